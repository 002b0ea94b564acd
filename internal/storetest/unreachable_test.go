package storetest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalMessage runs f with a recorder and returns what it passed to Fatalf.
func fatalMessage(t *testing.T, f func(testing.TB)) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.msg
}

func TestUnreachableServiceFailsWithHowToStartIt(t *testing.T) {
	for _, tc := range []struct {
		name, env, value string
		call             func(testing.TB)
		want             []string
	}{
		{"postgres", PostgresEnv, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
			func(tb testing.TB) { Postgres(tb) },
			[]string{"PostgreSQL", "127.0.0.1:1", "pg_ctlcluster --skip-systemctl-redirect", PostgresEnv}},
		{"mysql", MySQLEnv, "root@tcp(127.0.0.1:1)/?timeout=2s",
			func(tb testing.TB) { MySQL(tb) },
			[]string{"MariaDB", "127.0.0.1:1", "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd", MySQLEnv}},
		{"redis", RedisEnv, "redis://127.0.0.1:1/0",
			func(tb testing.TB) { Redis(tb) },
			[]string{"Redis", "127.0.0.1:1", "redis-server --daemonize yes", RedisEnv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			msg := fatalMessage(t, tc.call)
			if msg == "" {
				t.Fatalf("no failure for an unreachable %s", tc.name)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("failure message does not mention %q:\n%s", w, msg)
				}
			}
		})
	}
}
