package retention

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
)

// engines lists the engines every test runs against.
var engines = []schema.Engine{schema.Postgres, schema.MySQL}

const (
	securityLogs = 30 * 24 * time.Hour
	exportsKept  = 7 * 24 * time.Hour
)

// fixture is one tenant's stores: a database with the reference schema, a
// Redis database and a files volume.
type fixture struct {
	t      *testing.T
	engine schema.Engine
	db     *sql.DB
	redis  *redis.Client
	root   string
	now    time.Time
}

func newFixture(t *testing.T, engine schema.Engine) *fixture {
	t.Helper()
	var dsn string
	switch engine {
	case schema.Postgres:
		dsn = storetest.Postgres(t)
	case schema.MySQL:
		dsn = storetest.MySQL(t)
	}
	db, err := schema.Open(engine, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := schema.Apply(context.Background(), db, engine); err != nil {
		t.Fatalf("applying the reference schema: %v", err)
	}
	opts, err := redis.ParseURL(storetest.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return &fixture{
		t: t, engine: engine, db: db, redis: rdb,
		root: t.TempDir(),
		now:  time.Now().UTC().Truncate(time.Second),
	}
}

func (f *fixture) config() Config {
	return Config{
		DB: f.db, Engine: f.engine, Redis: f.redis, FilesRoot: f.root,
		SecurityLogs: securityLogs, Exports: exportsKept,
		Now:       func() time.Time { return f.now },
		BatchSize: 5,
	}
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(rebind(f.engine, q), args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// addUser inserts user id, deleted or not.
func (f *fixture) addUser(id int64, deleted bool) {
	f.t.Helper()
	var deletedAt any
	if deleted {
		deletedAt = f.now.Add(-time.Hour)
	}
	bidx := make([]byte, 32)
	bidx[0], bidx[1] = byte(id), byte(id>>8)
	f.exec("INSERT INTO users (id, email_enc, email_bidx, deleted_at) VALUES (?, ?, ?, ?)", id, []byte("sealed"), bidx, deletedAt)
}

// addSecurityLog inserts a row created at t and returns its id.
func (f *fixture) addSecurityLog(t time.Time) int64 {
	f.t.Helper()
	var id int64
	switch f.engine {
	case schema.Postgres:
		if err := f.db.QueryRow("INSERT INTO security_log (user_id, event, created_at) VALUES (1, 'login', $1) RETURNING id", t).Scan(&id); err != nil {
			f.t.Fatal(err)
		}
	case schema.MySQL:
		res, err := f.db.Exec("INSERT INTO security_log (user_id, event, created_at) VALUES (1, 'login', ?)", t)
		if err != nil {
			f.t.Fatal(err)
		}
		if id, err = res.LastInsertId(); err != nil {
			f.t.Fatal(err)
		}
	}
	return id
}

// securityLogIDs lists the ids left in security_log.
func (f *fixture) securityLogIDs() []int64 {
	f.t.Helper()
	rows, err := f.db.Query("SELECT id FROM security_log ORDER BY id")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// writeFile writes a file under the volume root, modified at mtime.
func (f *fixture) writeFile(name string, mtime time.Time) string {
	f.t.Helper()
	p := filepath.Join(f.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("encrypted export"), 0o600); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// files lists every entry under the volume root, folders with a trailing
// slash and links with " -> target".
func (f *fixture) files() []string {
	f.t.Helper()
	var out []string
	err := filepath.WalkDir(f.root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(f.root, p)
		switch {
		case rel == ".":
		case d.Type()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, filepath.ToSlash(rel)+" -> "+target)
		case d.IsDir():
			out = append(out, filepath.ToSlash(rel)+"/")
		default:
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// keys lists every Redis key, sets with their sorted members.
func (f *fixture) keys() []string {
	f.t.Helper()
	ctx := context.Background()
	var out []string
	iter := f.redis.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if f.redis.Type(ctx, k).Val() == "set" {
			m := f.redis.SMembers(ctx, k).Val()
			slices.Sort(m)
			k += " {" + strings.Join(m, ",") + "}"
		}
		out = append(out, k)
	}
	if err := iter.Err(); err != nil {
		f.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// session creates sess:<id> and, for owner > 0, adds it to the owner's set.
func (f *fixture) session(id string, owner int64) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.redis.Set(ctx, "sess:"+id, "session data", time.Hour).Err(); err != nil {
		f.t.Fatal(err)
	}
	if owner > 0 {
		f.index(owner, id)
	}
}

// index adds members to user_sessions:<owner> without creating sessions.
func (f *fixture) index(owner int64, members ...string) {
	f.t.Helper()
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	if err := f.redis.SAdd(context.Background(), "user_sessions:"+itoa(owner), args...).Err(); err != nil {
		f.t.Fatal(err)
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// forEngine runs test once per engine, in parallel.
func forEngine(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			test(t, newFixture(t, engine))
		})
	}
}
