// Package docs keeps docs/ true to the code: the metrics and flags that
// operations.md lists, the fields of every example object, the condition
// reasons, annotations and links of the guides.
package docs

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

const root = "../.."

// guides are the docs this test holds to the code.
var guides = []string{"tenant.md", "broadcast.md", "erasurerequest.md", "policyupdate.md", "operations.md", "security.md"}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goSources returns the repository's Go source files, tests left out, by
// path relative to the repository root.
func goSources(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != filepath.Join(root, dir) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			out[filepath.ToSlash(rel)] = string(b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// metric is a metric the code registers.
type metric struct {
	name, typ, file string
	labels          []string
}

var (
	optsName  = regexp.MustCompile(`Name:\s*"(inboxchat_[a-z0-9_]+)"`)
	optsType  = regexp.MustCompile(`prometheus\.New(Counter|Gauge|Histogram|Summary)(?:Vec)?\(\s*prometheus\.\w+Opts\{\s*$`)
	vecLabels = regexp.MustCompile(`\}\s*,\s*\[\]string\{([^}]*)\}`)
	descDecl  = regexp.MustCompile(`prometheus\.NewDesc\(\s*"(inboxchat_[a-z0-9_]+)"\s*,\s*(?:"(?:[^"\\]|\\.)*"|` + "`[^`]*`" + `)\s*,\s*(?:\[\]string\{([^}]*)\}|nil)`)
	quoted    = regexp.MustCompile(`"([^"]*)"`)
	backticks = regexp.MustCompile("`([^`]+)`")
)

func labelList(s string) []string {
	var out []string
	for _, m := range quoted.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}

// codeMetrics finds every inboxchat_ metric the code defines: collectors
// built from prometheus.*Opts and descriptors of custom collectors.
func codeMetrics(t *testing.T) map[string]metric {
	t.Helper()
	found := map[string]metric{}
	add := func(m metric) {
		if prev, dup := found[m.name]; dup {
			t.Errorf("metric %s is defined twice, in %s and %s", m.name, prev.file, m.file)
		}
		found[m.name] = m
	}
	for file, src := range goSources(t, "api", "cmd", "controllers", "internal") {
		locs := optsName.FindAllStringSubmatchIndex(src, -1)
		for i, loc := range locs {
			end := len(src)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			m := metric{name: src[loc[2]:loc[3]], file: file}
			if l := vecLabels.FindStringSubmatch(src[loc[1]:end]); l != nil {
				m.labels = labelList(l[1])
			}
			if ty := optsType.FindStringSubmatch(strings.TrimRight(src[max(0, loc[0]-200):loc[0]], " \t\n")); ty != nil {
				m.typ = strings.ToLower(ty[1])
			}
			add(m)
		}
		for _, d := range descDecl.FindAllStringSubmatch(src, -1) {
			add(metric{name: d[1], labels: labelList(d[2]), file: file})
		}
	}
	if len(found) < 5 {
		t.Fatalf("found only %d inboxchat_ metrics in the code; the patterns of this test no longer match how metrics are defined", len(found))
	}
	return found
}

// tableRows returns the cells of the markdown table rows whose first cell
// starts with prefix.
func tableRows(doc, prefix string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| "+prefix) {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

func ticked(cell string) []string {
	var out []string
	for _, m := range backticks.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestMetricsDocumented: every metric the code registers is in the table of
// operations.md with its type and labels, and every inboxchat_ name the page
// mentions (in the table, in PromQL) exists.
func TestMetricsDocumented(t *testing.T) {
	code := codeMetrics(t)
	doc := readDoc(t, "operations.md")
	table := map[string][]string{}
	for _, row := range tableRows(doc, "`inboxchat_") {
		if len(row) < 4 {
			t.Errorf("operations.md: metric row %q needs name, type, labels and a description", strings.Join(row, " | "))
			continue
		}
		table[strings.Trim(row[0], "`")] = row
	}
	for name, m := range code {
		row, ok := table[name]
		if !ok {
			t.Errorf("metric %s (%s) is not in the metrics table of docs/operations.md", name, m.file)
			continue
		}
		if m.typ != "" && row[1] != m.typ {
			t.Errorf("operations.md says %s is a %s; %s makes a %s", name, row[1], m.file, m.typ)
		}
		labels := ticked(row[2])
		sort.Strings(labels)
		if !slices.Equal(labels, m.labels) {
			t.Errorf("operations.md lists the labels %v for %s; %s gives it %v", labels, name, m.file, m.labels)
		}
	}
	for _, loc := range regexp.MustCompile(`\binboxchat_[a-z0-9_]*[a-z0-9]\b`).FindAllStringIndex(doc, -1) {
		name := doc[loc[0]:loc[1]]
		if (loc[0] > 0 && doc[loc[0]-1] == '/') || strings.HasPrefix(doc[loc[1]:], ".yaml") {
			continue // a file name, such as config/samples/inboxchat_v1alpha1_tenant.yaml
		}
		base := name
		if _, ok := code[base]; !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, cut := strings.CutSuffix(name, suffix); cut && code[b].typ == "histogram" {
					base = b
				}
			}
		}
		if _, ok := code[base]; !ok {
			t.Errorf("docs/operations.md mentions the metric %s, which the code does not define", name)
		}
	}
}

var flagName = regexp.MustCompile(`\bfs\.\w+\(\s*(?:&?[\w.]+\s*,\s*)?"([a-z][a-z0-9-]*)"`)

// TestManagerFlagsDocumented: the flag table of operations.md lists exactly
// the manager's flags (cmd/manager.go and controller-runtime's zap flags).
func TestManagerFlagsDocumented(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, "cmd", "manager.go"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, m := range flagName.FindAllStringSubmatch(string(src), -1) {
		want[m[1]] = true
	}
	fs := flag.NewFlagSet("zap", flag.ContinueOnError)
	(&zap.Options{}).BindFlags(fs)
	fs.VisitAll(func(f *flag.Flag) { want[f.Name] = true })
	if len(want) < 10 {
		t.Fatalf("found only %d flags in cmd/manager.go; the pattern of this test no longer matches", len(want))
	}
	documented := map[string]bool{}
	for _, row := range tableRows(readDoc(t, "operations.md"), "`--") {
		documented[strings.TrimPrefix(strings.Trim(row[0], "`"), "--")] = true
	}
	for f := range want {
		if !documented[f] {
			t.Errorf("the manager flag --%s is not in the flag table of docs/operations.md", f)
		}
	}
	for f := range documented {
		if !want[f] {
			t.Errorf("docs/operations.md documents --%s, which the manager does not have", f)
		}
	}
}

// TestMetricsAuthenticationClaim: the docs say that the metrics endpoint
// authenticates scrapers, and internal/operator wires the filter that does.
func TestMetricsAuthenticationClaim(t *testing.T) {
	wired := false
	for _, src := range goSources(t, "internal/operator", "cmd") {
		if strings.Contains(src, "FilterProvider = metricsAuth") {
			wired = true
		}
	}
	if !wired {
		t.Fatal("internal/operator no longer wires its metrics authentication filter (metricsAuth), but the docs say it does")
	}
	space := regexp.MustCompile(`\s+`)
	for _, name := range []string{"operations.md", "security.md"} {
		doc := space.ReplaceAllString(readDoc(t, name), " ")
		if !strings.Contains(doc, "authenticates and authorizes every scraper") {
			t.Errorf("docs/%s must say that the metrics endpoint authenticates and authorizes every scraper", name)
		}
	}
}

var fence = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestExamplesMatchTheAPI: every example object of the guides decodes into
// the Go API types with no unknown field, and an example that says it is a
// sample file is that file.
func TestExamplesMatchTheAPI(t *testing.T) {
	kinds := map[string]func() any{
		"Tenant":         func() any { return &v1alpha1.Tenant{} },
		"Broadcast":      func() any { return &v1alpha1.Broadcast{} },
		"ErasureRequest": func() any { return &v1alpha1.ErasureRequest{} },
		"PolicyUpdate":   func() any { return &v1alpha1.PolicyUpdate{} },
	}
	pageKind := map[string]string{"tenant.md": "Tenant", "broadcast.md": "Broadcast", "erasurerequest.md": "ErasureRequest", "policyupdate.md": "PolicyUpdate"}
	checked := 0
	for _, name := range guides {
		for i, m := range fence.FindAllStringSubmatch(readDoc(t, name), -1) {
			block := m[1]
			where := fmt.Sprintf("docs/%s, yaml block %d", name, i+1)
			var generic map[string]any
			if err := yaml.Unmarshal([]byte(block), &generic); err != nil {
				t.Errorf("%s is not YAML: %v", where, err)
				continue
			}
			kind, _ := generic["kind"].(string)
			api, _ := generic["apiVersion"].(string)
			switch {
			case api == v1alpha1.GroupVersion.String():
			case api == "" && kind == "" && generic["spec"] != nil && pageKind[name] != "":
				kind = pageKind[name] // a fragment of the page's kind
			default:
				continue
			}
			mk, ok := kinds[kind]
			if !ok {
				t.Errorf("%s: unknown kind %q", where, kind)
				continue
			}
			if err := yaml.UnmarshalStrict([]byte(block), mk()); err != nil {
				t.Errorf("%s does not match the %s API: %v", where, kind, err)
			}
			checked++
			first, _, _ := strings.Cut(strings.TrimSpace(block), "\n")
			if sample, ok := strings.CutPrefix(first, "# config/samples/"); ok {
				data, err := os.ReadFile(filepath.Join(root, "config", "samples", sample))
				if err != nil {
					t.Errorf("%s names a sample that does not exist: %v", where, err)
					continue
				}
				var want map[string]any
				if err := yaml.Unmarshal(data, &want); err != nil {
					t.Fatal(err)
				}
				a, _ := yaml.Marshal(generic)
				b, _ := yaml.Marshal(want)
				if !bytes.Equal(a, b) {
					t.Errorf("%s is not config/samples/%s any more:\n%s\nthe sample:\n%s", where, sample, a, b)
				}
			}
		}
	}
	if checked < 6 {
		t.Errorf("checked only %d example objects; the guides should show each kind", checked)
	}
}

// TestReasonsExist: every condition reason the guides' tables list is one
// the controllers set.
func TestReasonsExist(t *testing.T) {
	var code strings.Builder
	for _, src := range goSources(t, "controllers") {
		code.WriteString(src)
	}
	all := code.String()
	checked := 0
	for _, name := range guides {
		col := -1
		for _, line := range strings.Split(readDoc(t, name), "\n") {
			if !strings.HasPrefix(line, "|") {
				col = -1
				continue
			}
			cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
			if col < 0 {
				for i, c := range cells {
					if strings.TrimSpace(c) == "reason" {
						col = i
					}
				}
				continue
			}
			if col >= len(cells) {
				continue
			}
			for _, reason := range ticked(cells[col]) {
				checked++
				if !strings.Contains(all, `"`+reason+`"`) {
					t.Errorf("docs/%s lists the reason %s, which no controller sets", name, reason)
				}
			}
		}
	}
	if checked < 30 {
		t.Errorf("checked only %d reasons; the reason tables of the guides are gone or changed shape", checked)
	}
}

// TestAnnotationsAndLabelsExist: every inboxchat.io/ annotation or label the
// guides name is one the code uses.
func TestAnnotationsAndLabelsExist(t *testing.T) {
	var code strings.Builder
	for _, src := range goSources(t, "api", "cmd", "controllers", "internal") {
		code.WriteString(src)
	}
	all := code.String()
	key := regexp.MustCompile(`\binboxchat\.io/[a-z][a-z0-9-]*`)
	for _, name := range guides {
		for _, k := range key.FindAllString(readDoc(t, name), -1) {
			if k == "inboxchat.io/v1alpha1" {
				continue
			}
			if !strings.Contains(all, `"`+k+`"`) {
				t.Errorf("docs/%s names %s, which the code never uses", name, k)
			}
		}
	}
}

var (
	mdLink  = regexp.MustCompile(`\]\(([^)#\s]*)(#[^)\s]*)?\)`)
	heading = regexp.MustCompile(`(?m)^#+\s+(.*)$`)
	nonSlug = regexp.MustCompile(`[^a-z0-9 -]`)
)

func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	for _, h := range heading.FindAllStringSubmatch(doc, -1) {
		s := strings.ToLower(strings.TrimSpace(h[1]))
		s = nonSlug.ReplaceAllString(s, "")
		out["#"+strings.ReplaceAll(s, " ", "-")] = true
	}
	return out
}

// TestLinksResolve: relative links of the guides point at files that exist,
// and their anchors at headings that exist.
func TestLinksResolve(t *testing.T) {
	for _, name := range guides {
		doc := readDoc(t, name)
		for _, m := range mdLink.FindAllStringSubmatch(doc, -1) {
			target, anchor := m[1], m[2]
			if strings.Contains(target, "://") {
				continue
			}
			text := doc
			if target != "" {
				b, err := os.ReadFile(filepath.Join(root, "docs", target))
				if err != nil {
					t.Errorf("docs/%s links to %s, which does not exist", name, target)
					continue
				}
				text = string(b)
			}
			if anchor != "" && strings.HasSuffix(target+name, ".md") && !anchors(text)[anchor] {
				t.Errorf("docs/%s links to %s%s, which has no such heading", name, target, anchor)
			}
		}
	}
}
