package retention

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPruneSecurityLog(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		cutoff := f.now.Add(-securityLogs)
		// 12 rows past retention: more than two batches of 5.
		for i := range 11 {
			f.addSecurityLog(cutoff.Add(-time.Duration(i+1) * 24 * time.Hour))
		}
		f.addSecurityLog(cutoff.Add(-time.Microsecond))
		var kept []int64
		kept = append(kept, f.addSecurityLog(cutoff)) // exactly at the cutoff: within retention
		for i := range 4 {
			kept = append(kept, f.addSecurityLog(cutoff.Add(time.Duration(i+1)*time.Minute)))
		}
		kept = append(kept, f.addSecurityLog(f.now))

		r, err := Prune(context.Background(), f.config())
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if r.SecurityLogsPruned != 12 {
			t.Errorf("SecurityLogsPruned = %d, want 12", r.SecurityLogsPruned)
		}
		if !r.RanAt.Equal(f.now) {
			t.Errorf("RanAt = %s, want %s", r.RanAt, f.now)
		}
		if got := f.securityLogIDs(); !slices.Equal(got, kept) {
			t.Errorf("rows left %v, want %v", got, kept)
		}

		again, err := Prune(context.Background(), f.config())
		if err != nil || again.SecurityLogsPruned != 0 {
			t.Errorf("second Prune = %+v, %v; want nothing more deleted", again, err)
		}
	})
}

func TestPruneExports(t *testing.T) {
	// Files only: one engine is enough.
	f := newFixture(t, "postgres")
	old := f.now.Add(-exportsKept - time.Hour)
	fresh := f.now.Add(-24 * time.Hour)
	f.writeFile("exports/old.zip", old)
	f.writeFile("exports/fresh.zip", fresh)
	f.writeFile("exports/edge.zip", f.now.Add(-exportsKept)) // exactly the period: kept
	f.writeFile("exports/req-1/archive.enc", old)
	f.writeFile("exports/req-2/old.enc", old)
	f.writeFile("exports/req-2/new.enc", fresh)
	f.writeFile("exports/a/b/c/old.enc", old)
	future := f.writeFile("exports/future.zip", f.now.Add(30*24*time.Hour))
	if err := os.MkdirAll(filepath.Join(f.root, "exports", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.writeFile("users/7/photo.jpg", old) // an upload, not an export

	// Links out of the exports folder and out of the volume.
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.zip")
	if err := os.WriteFile(secret, []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(secret, old, old); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"exports/link.zip": secret,
		"exports/linkdir":  outside,
		"exports/uploads":  "../users",
	} {
		if err := os.Symlink(target, filepath.Join(f.root, link)); err != nil {
			t.Fatal(err)
		}
	}

	r, err := Prune(context.Background(), f.config())
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if r.ExportsPruned != 4 {
		t.Errorf("ExportsPruned = %d, want 4", r.ExportsPruned)
	}
	want := []string{
		"exports/",
		"exports/edge.zip",
		"exports/empty/",
		"exports/fresh.zip",
		"exports/future.zip",
		"exports/link.zip -> " + secret,
		"exports/linkdir -> " + outside,
		"exports/req-2/",
		"exports/req-2/new.enc",
		"exports/uploads -> ../users",
		"users/",
		"users/7/",
		"users/7/photo.jpg",
	}
	if got := f.files(); !reflect.DeepEqual(got, want) {
		t.Errorf("files left:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("the link's target outside the volume: %v", err)
	}
	fi, err := os.Stat(future)
	if err != nil || !fi.ModTime().Equal(f.now) {
		t.Errorf("the export dated in the future: %v, modified %v; want its time reset to now", err, fi.ModTime())
	}

	again, err := Prune(context.Background(), f.config())
	if err != nil || again.ExportsPruned != 0 {
		t.Errorf("second Prune = %+v, %v; want nothing more deleted", again, err)
	}

	// One period after the reset, the export dated in the future goes.
	f.now = f.now.Add(exportsKept + time.Hour)
	later, err := Prune(context.Background(), f.config())
	if err != nil {
		t.Fatalf("Prune a period later: %v", err)
	}
	if _, err := os.Stat(future); !os.IsNotExist(err) {
		t.Errorf("the export dated in the future is still there a period after the reset (%v)", err)
	}
	if later.ExportsPruned != 4 { // edge, fresh, future, req-2/new
		t.Errorf("ExportsPruned a period later = %d, want 4", later.ExportsPruned)
	}
}

func TestPruneRefusesAnExportsFolderThatIsALink(t *testing.T) {
	f := newFixture(t, "postgres")
	f.writeFile("users/7/photo.jpg", f.now.Add(-365*24*time.Hour))
	if err := os.Symlink("users", filepath.Join(f.root, "exports")); err != nil {
		t.Fatal(err)
	}
	f.addSecurityLog(f.now.Add(-securityLogs - time.Hour))

	r, err := Prune(context.Background(), f.config())
	if err == nil || !strings.Contains(err.Error(), "exports is not a folder") {
		t.Fatalf("Prune = %v, want a refusal of the linked exports folder", err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "users/7/photo.jpg")); err != nil {
		t.Errorf("the upload behind the link: %v", err)
	}
	if r.SecurityLogsPruned != 1 {
		t.Errorf("SecurityLogsPruned = %d, want 1: the other steps still run", r.SecurityLogsPruned)
	}
}

func TestPruneWithoutExportsFolder(t *testing.T) {
	f := newFixture(t, "postgres")
	r, err := Prune(context.Background(), f.config())
	if err != nil || r.ExportsPruned != 0 {
		t.Fatalf("Prune = %+v, %v; want nothing to do", r, err)
	}
}

func TestPruneSessions(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		f.addUser(1, false) // live
		f.addUser(2, true)  // deleted
		f.addUser(4, false) // live, with expired sessions in its index
		f.session("a", 1)
		f.session("b", 2)
		f.session("c", 2)
		f.session("d", 99)  // user 99 does not exist
		f.index(99, "gone") // an expired session of user 99
		f.session("e", 4)
		f.index(4, "f", "g") // expired
		f.session("lonely", 0)
		f.index(0, "x") // user_sessions:0 is no user id
		if err := f.redis.SAdd(context.Background(), "user_sessions:notanumber", "y").Err(); err != nil {
			t.Fatal(err)
		}
		if err := f.redis.Set(context.Background(), "user_sessions:5", "not a set", 0).Err(); err != nil {
			t.Fatal(err)
		}
		// Enough orphaned index sets for several SCAN batches.
		for i := range int64(30) {
			f.session(fmt.Sprintf("orphan%d", i), 1000+i)
		}

		r, err := Prune(context.Background(), f.config())
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if r.SessionsPruned != 33 || r.SessionIndexesPruned != 32 || r.StaleSessionRefsPruned != 2 {
			t.Errorf("Prune = %d sessions, %d index sets, %d stale refs; want 33, 32, 2",
				r.SessionsPruned, r.SessionIndexesPruned, r.StaleSessionRefsPruned)
		}
		want := []string{
			"sess:a",
			"sess:e",
			"sess:lonely",
			"user_sessions:0 {x}",
			"user_sessions:1 {a}",
			"user_sessions:4 {e}",
			"user_sessions:5",
			"user_sessions:notanumber {y}",
		}
		if got := f.keys(); !reflect.DeepEqual(got, want) {
			t.Errorf("keys left:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}

		again, err := Prune(context.Background(), f.config())
		if err != nil || again.SessionsPruned+again.SessionIndexesPruned+again.StaleSessionRefsPruned != 0 {
			t.Errorf("second Prune = %+v, %v; want nothing more deleted", again, err)
		}
	})
}

func TestPruneKeepsSessionsWhenTheUsersTableIsEmpty(t *testing.T) {
	f := newFixture(t, "postgres")
	f.session("a", 1)
	r, err := Prune(context.Background(), f.config())
	if err == nil || !strings.Contains(err.Error(), "users table is empty") {
		t.Fatalf("Prune = %v, want a refusal to treat every session as orphaned", err)
	}
	if r.SessionsPruned != 0 || len(f.keys()) != 2 {
		t.Errorf("Prune deleted sessions (%d), keys left %v", r.SessionsPruned, f.keys())
	}
}

func TestPruneRejectsBadConfig(t *testing.T) {
	f := newFixture(t, "postgres")
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no database", func(c *Config) { c.DB = nil }, "DB is nil"},
		{"unknown engine", func(c *Config) { c.Engine = "sqlite" }, `engine "sqlite"`},
		{"no Redis", func(c *Config) { c.Redis = nil }, "Redis is nil"},
		{"no files root", func(c *Config) { c.FilesRoot = "" }, "FilesRoot is empty"},
		{"no security log period", func(c *Config) { c.SecurityLogs = 0 }, "SecurityLogs is 0s"},
		{"negative export period", func(c *Config) { c.Exports = -time.Hour }, "Exports is -1h0m0s"},
		{"huge batch", func(c *Config) { c.BatchSize = MaxBatchSize + 1 }, "BatchSize is 10001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.config()
			tt.mutate(&c)
			_, err := Prune(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Prune = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
