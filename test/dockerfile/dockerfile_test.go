package dockerfile

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const root = "../.."

func readDockerfile(t *testing.T) File {
	t.Helper()
	fh, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatalf("the repository has no Dockerfile: %v", err)
	}
	defer fh.Close()
	f, err := Parse(fh)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return f
}

// goBuild is the builder's `go build` command: its environment assignments,
// flags and package.
type goBuild struct {
	env     map[string]string
	flags   map[string]string // -o, -ldflags, -trimpath (value "true")
	pkg     string
	stage   Stage
	command Instruction
}

func findGoBuild(t *testing.T, f File) goBuild {
	t.Helper()
	for _, st := range f.Stages[:len(f.Stages)-1] {
		for _, run := range st.Find("RUN") {
			words, err := Words(run.Args)
			if err != nil {
				t.Fatalf("Dockerfile line %d: %v", run.Line, err)
			}
			for i := 0; i+1 < len(words); i++ {
				if words[i] != "go" || words[i+1] != "build" {
					continue
				}
				b := goBuild{env: map[string]string{}, flags: map[string]string{}, stage: st, command: run}
				// Assignments right before `go`, back to the start of the simple command.
				for j := i - 1; j >= 0 && strings.Contains(words[j], "=") && !strings.HasPrefix(words[j], "-"); j-- {
					k, v, _ := strings.Cut(words[j], "=")
					b.env[k] = v
				}
				args := words[i+2:]
				for k := 0; k < len(args); k++ {
					a := args[k]
					if a == "&&" || a == ";" || a == "||" {
						break
					}
					switch {
					case a == "-trimpath":
						b.flags[a] = "true"
					case a == "-o" || a == "-ldflags":
						if k+1 < len(args) {
							b.flags[a] = args[k+1]
							k++
						}
					case strings.HasPrefix(a, "-ldflags=") || strings.HasPrefix(a, "-o="):
						name, v, _ := strings.Cut(a, "=")
						b.flags[name] = v
					case strings.HasPrefix(a, "-"):
						b.flags[a] = "true"
					default:
						b.pkg = a
					}
				}
				return b
			}
		}
	}
	t.Fatal("no builder stage runs `go build`")
	return goBuild{}
}

// makefileBuildPackage is the package the Makefile's build target builds.
func makefileBuildPackage(t *testing.T) string {
	t.Helper()
	fh, err := os.Open(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	inBuild := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "build:") {
			inBuild = true
			continue
		}
		if !inBuild {
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			break
		}
		words := strings.Fields(line)
		for i, w := range words {
			if w == "build" && i > 0 && (words[i-1] == "$(GO)" || words[i-1] == "go") {
				return words[len(words)-1]
			}
		}
	}
	t.Fatal("the Makefile has no build target that runs go build")
	return ""
}

func TestFinalStageIsDistrolessNonRoot(t *testing.T) {
	final := readDockerfile(t).Final()
	image := final.Image
	if at := strings.Index(image, "@"); at >= 0 {
		image = image[:at] // a digest pin is welcome
	}
	if !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot$`).MatchString(image) {
		t.Errorf("the final stage is FROM %s; want gcr.io/distroless/static-debian12:nonroot (no shell, non-root user)", final.Image)
	}
	for _, ins := range final.Instructions {
		if ins.Cmd == "RUN" {
			t.Errorf("line %d: the final stage RUNs a command; distroless has no shell, so build in the builder stage", ins.Line)
		}
	}
}

func TestUserIsNumericAndNotRoot(t *testing.T) {
	users := readDockerfile(t).Final().Find("USER")
	if len(users) == 0 {
		t.Fatal("the final stage sets no USER; the kubelet can only enforce runAsNonRoot for a numeric user")
	}
	user := users[len(users)-1]
	for i, part := range strings.Split(strings.TrimSpace(user.Args), ":") {
		id, err := strconv.Atoi(part)
		if err != nil {
			t.Errorf("line %d: USER %s is not numeric; Pod Security restricted needs a numeric non-root uid to verify runAsNonRoot", user.Line, user.Args)
			continue
		}
		if id == 0 {
			t.Errorf("line %d: USER %s runs as root (%s 0)", user.Line, user.Args, []string{"uid", "gid"}[min(i, 1)])
		}
	}
}

func TestNoRemoteADD(t *testing.T) {
	url := regexp.MustCompile(`(?i)^(https?|git|ssh)://|^git@|\.git(#|$)`)
	for _, st := range readDockerfile(t).Stages {
		for _, add := range st.Find("ADD") {
			words, err := Words(add.Args)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range words {
				if url.MatchString(w) {
					t.Errorf("line %d: ADD %s fetches from the network at build time; the build must use only the module proxy and the repository", add.Line, w)
				}
			}
		}
	}
}

func TestBuilderBuildsWhatTheMakefileBuilds(t *testing.T) {
	f := readDockerfile(t)
	b := findGoBuild(t, f)
	if want := makefileBuildPackage(t); b.pkg != want {
		t.Errorf("Dockerfile line %d builds %q, the Makefile's build target %q", b.command.Line, b.pkg, want)
	}
	if b.env["CGO_ENABLED"] != "0" {
		t.Errorf("Dockerfile line %d: go build without CGO_ENABLED=0; distroless static has no libc", b.command.Line)
	}
	if b.flags["-trimpath"] != "true" {
		t.Errorf("Dockerfile line %d: go build without -trimpath", b.command.Line)
	}
	ld := strings.Fields(b.flags["-ldflags"])
	if !contains(ld, "-s") || !contains(ld, "-w") {
		t.Errorf("Dockerfile line %d: -ldflags %q should strip the symbol table and DWARF (-s -w)", b.command.Line, b.flags["-ldflags"])
	}
	if b.flags["-o"] == "" {
		t.Fatalf("Dockerfile line %d: go build without -o", b.command.Line)
	}
	// The builder caches modules and the build cache between builds.
	mounts := map[string]bool{}
	for _, run := range b.stage.Find("RUN") {
		for _, fl := range run.Flags {
			if v, ok := strings.CutPrefix(fl, "--mount="); ok && strings.Contains(v, "type=cache") {
				for _, kv := range strings.Split(v, ",") {
					if target, ok := strings.CutPrefix(kv, "target="); ok {
						mounts[target] = true
					}
				}
			}
		}
	}
	for _, target := range []string{"/go/pkg/mod", "/root/.cache/go-build"} {
		if !mounts[target] {
			t.Errorf("the builder stage has no cache mount at %s", target)
		}
	}
}

// TestBuilderGoMatchesGoMod: the builder image's Go must be the go.mod's
// language version, with GOTOOLCHAIN=local so it never downloads another.
func TestBuilderGoMatchesGoMod(t *testing.T) {
	b := findGoBuild(t, readDockerfile(t))
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	img := regexp.MustCompile(`^golang:(\d+\.\d+)`).FindStringSubmatch(b.stage.Image)
	if img == nil {
		t.Fatalf("the builder stage is FROM %s, not an official golang image", b.stage.Image)
	}
	if img[1] != string(m[1]) {
		t.Errorf("the builder is FROM %s, go.mod says go %s", b.stage.Image, m[1])
	}
	local := false
	for _, env := range b.stage.Find("ENV") {
		if strings.Contains(env.Args, "GOTOOLCHAIN=local") {
			local = true
		}
	}
	if !local {
		t.Error("the builder stage does not set GOTOOLCHAIN=local")
	}
}

// TestEntrypointIsTheWorkerBinary: the controllers start worker Jobs with the
// operator's own image and command workerBinary, and the manager is the
// binary's default subcommand, so the ENTRYPOINT is that path alone.
func TestEntrypointIsTheWorkerBinary(t *testing.T) {
	f := readDockerfile(t)
	b := findGoBuild(t, f)
	src, err := os.ReadFile(filepath.Join(root, "controllers", "worker_job.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`workerBinary\s*=\s*"([^"]+)"`).FindSubmatch(src)
	if m == nil {
		t.Fatal("controllers/worker_job.go no longer defines workerBinary")
	}
	binary := string(m[1])
	final := f.Final()
	eps := final.Find("ENTRYPOINT")
	if len(eps) == 0 {
		t.Fatal("the final stage has no ENTRYPOINT")
	}
	if got, want := strings.TrimSpace(eps[len(eps)-1].Args), `["`+binary+`"]`; got != want {
		t.Errorf("ENTRYPOINT %s; want %s (exec form: the worker Jobs run %s, and the manager is its default subcommand)", got, want, binary)
	}
	if len(final.Find("CMD")) != 0 {
		t.Error("the final stage sets CMD; the manager Deployment passes its arguments itself")
	}
	copied := false
	for _, c := range final.Find("COPY") {
		from, _ := c.Flag("from")
		if from == b.stage.Name && strings.Fields(c.Args)[0] == b.flags["-o"] && strings.Fields(c.Args)[1] == binary {
			copied = true
		}
	}
	if !copied {
		t.Errorf("the final stage does not COPY --from=%s %s %s", b.stage.Name, b.flags["-o"], binary)
	}
	main, err := os.ReadFile(filepath.Join(root, "cmd", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(main), `name, args := "manager", os.Args[1:]`) {
		t.Error("cmd/main.go no longer runs the manager when no subcommand is given; check the ENTRYPOINT")
	}
}

// TestBuildContextHasEverySource: every package of this module that ./cmd
// imports, with its embedded files, lies under a directory the builder
// COPYs, and .dockerignore hides none of them.
func TestBuildContextHasEverySource(t *testing.T) {
	f := readDockerfile(t)
	b := findGoBuild(t, f)
	var copied []string
	for _, c := range b.stage.Find("COPY") {
		if _, from := c.Flag("from"); from {
			continue
		}
		words := strings.Fields(c.Args)
		for _, src := range words[:len(words)-1] {
			copied = append(copied, strings.TrimSuffix(strings.TrimPrefix(src, "./"), "/"))
		}
	}
	under := func(path string) bool {
		for _, c := range copied {
			if path == c || strings.HasPrefix(path, c+"/") {
				return true
			}
		}
		return false
	}
	for _, need := range []string{"go.mod", "go.sum"} {
		if !under(need) {
			t.Errorf("the builder does not COPY %s", need)
		}
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`, b.pkg)
	cmd.Dir = abs
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", b.pkg, err)
	}
	var needed []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		dir, err := filepath.Rel(abs, fields[0])
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.ToSlash(dir)
		needed = append(needed, dir)
		for _, e := range fields[1:] {
			needed = append(needed, dir+"/"+e)
		}
	}
	for _, p := range needed {
		if !under(p) {
			t.Errorf("%s builds from %s, which the builder stage does not COPY", b.pkg, p)
		}
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatalf("the repository has no .dockerignore: %v", err)
	}
	var patterns []string
	for _, line := range strings.Split(string(ignore), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Errorf(".dockerignore: %s: exceptions are not checked here; list what to leave out instead", line)
			continue
		}
		patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/"))
	}
	for _, p := range append(needed, "go.mod", "go.sum") {
		parts := strings.Split(p, "/")
		for i := range parts {
			prefix := strings.Join(parts[:i+1], "/")
			for _, pat := range patterns {
				if ok, _ := filepath.Match(pat, prefix); ok {
					t.Errorf(".dockerignore pattern %q hides %s, which the build needs", pat, p)
				}
			}
		}
	}
	for _, must := range []string{".git", "bin"} {
		if !contains(patterns, must) {
			t.Errorf(".dockerignore does not leave out %s", must)
		}
	}
}

func TestParse(t *testing.T) {
	f, err := Parse(strings.NewReader("ARG V=1\n# c\nFROM --platform=$BUILDPLATFORM golang:1.26 AS b\nRUN --mount=type=cache,target=/x \\\n  # inside\n  echo a \\\n  b\n\nFROM scratch\nCOPY --from=b /a /a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Global) != 1 || len(f.Stages) != 2 || f.Stages[0].Name != "b" || f.Stages[0].Image != "golang:1.26" {
		t.Fatalf("stages: %+v", f)
	}
	run := f.Stages[0].Instructions[0]
	if run.Cmd != "RUN" || run.Line != 4 || run.Args != "echo a  b" {
		t.Errorf("RUN = %+v", run)
	}
	if v, _ := run.Flag("mount"); v != "type=cache,target=/x" {
		t.Errorf("mount flag = %q", v)
	}
	if from, _ := f.Final().Find("COPY")[0].Flag("from"); from != "b" {
		t.Errorf("COPY --from = %q", from)
	}
	for name, bad := range map[string]string{
		"heredoc":      "FROM a\nRUN <<EOF\necho\nEOF\n",
		"escape":       "# escape=`\nFROM a\n",
		"no FROM":      "ARG a\n",
		"open":         "FROM a\nRUN x \\\n",
		"before FROM":  "RUN x\nFROM a\n",
		"FROM garbage": "FROM a b\n",
	} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: Parse accepted %q", name, bad)
		}
	}
	words, err := Words(`CGO_ENABLED=0 go build -ldflags="-s -w" -o '/a b' ./cmd`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"CGO_ENABLED=0", "go", "build", "-ldflags=-s -w", "-o", "/a b", "./cmd"}; strings.Join(words, "|") != strings.Join(want, "|") {
		t.Errorf("Words = %q, want %q", words, want)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
