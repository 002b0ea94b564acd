package main

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

// TestMakeRun runs `make run` as it is (the built localrun command) in its
// exit-when-done mode, on a database and a Redis database of its own, and
// checks that the four sample objects reach their end states, that the
// Messenger emulator and the SMTP sink received what they should, and that
// nothing is left running afterwards.
func TestMakeRun(t *testing.T) {
	if _, err := testenv.Environment(); err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dsn, redisURL := storetest.Postgres(t), storetest.Redis(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "localrun")
	build := exec.Command("go", "build", "-o", bin, "./hack/localrun")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hack/localrun: %v\n%s", err, out)
	}

	runDir := filepath.Join(tmp, "run")
	cmd := exec.Command(bin)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"RUN_EXIT_WHEN_DONE=true", "RUN_TIMEOUT=100s", "RUN_DIR="+runDir,
		"RUN_DATABASE_DSN="+dsn, "RUN_REDIS_URL="+redisURL, "USE_EXISTING_CLUSTER=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(150 * time.Second):
		// Ctrl-C, so that it stops its control plane; then kill it.
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err = <-done:
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
			err = <-done
		}
		t.Errorf("make run did not exit within 150s")
	}
	text := out.String()
	t.Logf("make run took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("make run failed: %v\n%s", err, text)
	}

	for _, want := range []string{
		`(?m)^\$ kubectl get inboxchat -A`,
		`(?m)^   tenant +demo +Ready `,
		`(?m)^   policyupdate +tenant-demo/privacy-2026-12 +Published +version 2026-12, e-mailed 6 of 6 users \(0 failed\)`,
		`(?m)^   broadcast +tenant-demo/december-news +Succeeded +sent [1-9]\d* of \d+ \(0 failed`,
		`(?m)^   erasurerequest +tenant-demo/adios-lead-1001 +Completed +erased [1-9]\d* records .*receipt sha256:[0-9a-f]{64}, export exports/`,
		`(?m)^» stopped$`,
	} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("the output does not match %s:\n%s", want, text)
		}
	}
	if m := regexp.MustCompile(`the Messenger emulator delivered (\d+) messages, (\d+) of them with an unsubscribe link`).FindStringSubmatch(text); m == nil || m[1] == "0" || m[1] != m[2] {
		t.Errorf("every delivered message must carry an unsubscribe link: %v\n%s", m, text)
	}
	if m := regexp.MustCompile(`the SMTP sink caught (\d+) e-mails`).FindStringSubmatch(text); m == nil {
		t.Errorf("no SMTP sink count:\n%s", text)
	} else if n, _ := strconv.Atoi(m[1]); n < 7 {
		t.Errorf("the SMTP sink caught %d e-mails; want the 6 users' policy notices and the admin's notices", n)
	}

	// The ErasureRequest's lead is gone from the database; the others stay.
	db, err := schema.Open(schema.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var subject, others int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE id = 1001), count(*) FILTER (WHERE id <> 1001) FROM leads`).Scan(&subject, &others); err != nil {
		t.Fatal(err)
	}
	if subject != 0 || others != contacts {
		t.Errorf("leads after the run: %d with id 1001 (want 0), %d others (want %d)", subject, others, contacts)
	}

	// Nothing of the run is left: no worker process runs from its folder,
	// and its kube-apiserver no longer answers.
	if left := processesMentioning(t, runDir); len(left) > 0 {
		t.Errorf("processes left running after make run exited: %v", left)
	}
	kc, err := clientcmd.LoadFromFile(filepath.Join(runDir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range kc.Clusters {
		u, err := url.Parse(c.Server)
		if err != nil {
			t.Fatal(err)
		}
		if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			conn.Close()
			t.Errorf("the control plane still listens on %s after make run exited", u.Host)
		}
	}
}

// processesMentioning lists the command lines that contain s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("listing processes needs /proc: %v", err)
	}
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if line := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(line, s) {
			found = append(found, e.Name()+": "+line)
		}
	}
	return found
}
