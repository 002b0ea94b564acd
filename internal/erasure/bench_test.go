package erasure

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
)

// benchRedisKeys is how many other users' session keys Redis holds.
const benchRedisKeys = 100_000

// BenchmarkEraseOneSubject measures one erasure request, as the erase worker
// runs it: connections to the database and Redis opened and closed, the
// subject resolved through its blind index, every step erased and recorded,
// everything verified. Every table of the map holds rows rows of other
// subjects, Redis benchRedisKeys keys. The database is populated once per
// engine and size (COPY on PostgreSQL, multi-row INSERT on MySQL); each
// iteration puts the one subject's rows, sessions and files back with the
// timer stopped. The 1M size is skipped with -short.
//
// Measured on the shared 2-core development machine (-benchtime 30x), per
// request: PostgreSQL 21.6 ms (User) and 18.8 ms (Lead) at 100k rows, 21.2
// and 21.1 ms at 1M; MariaDB 19.2 and 15.3 ms at 100k, 16.9 and 12.3 ms at
// 1M. Populating took about 1 minute per engine at 1M rows. Other work on
// the machine moves these figures by a factor of two or more.
func BenchmarkEraseOneSubject(b *testing.B) {
	for _, engine := range engines {
		for _, rows := range []int{100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/rows=%s", engine, sizeName(rows)), func(b *testing.B) {
				if rows > 100_000 && testing.Short() {
					b.Skip("the 1M-row size is skipped with -short")
				}
				w := newBenchWorld(b, engine, rows)
				b.Run("kind=User", func(b *testing.B) { w.bench(b, datamap.User) })
				b.Run("kind=Lead", func(b *testing.B) { w.bench(b, datamap.Lead) })
			})
		}
	}
}

// sizeName prints 100000 as 100k and 1000000 as 1M.
func sizeName(n int) string {
	if n >= 1_000_000 {
		return strconv.Itoa(n/1_000_000) + "M"
	}
	return strconv.Itoa(n/1000) + "k"
}

// benchWorld is a populated tenant.
type benchWorld struct {
	engine   schema.Engine
	dsn      string
	redisURL string
	f        *fixture
	rows     int
}

// newBenchWorld populates a database of engine with rows rows per table of
// the map and Redis with benchRedisKeys keys.
func newBenchWorld(b *testing.B, engine schema.Engine, rows int) *benchWorld {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	dsn := storetest.Postgres
	if engine == schema.MySQL {
		dsn = storetest.MySQL
	}
	w := &benchWorld{engine: engine, dsn: dsn(b), redisURL: storetest.Redis(b), rows: rows}
	db, err := schema.Open(engine, w.dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if _, err := schema.Apply(ctx, db, engine); err != nil {
		b.Fatal(err)
	}
	opts, err := redis.ParseURL(w.redisURL)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	b.Cleanup(func() { _ = rdb.Close() })
	kr, err := crypto.NewKeyring(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	w.f = &fixture{engine: engine, db: db, rdb: rdb, root: b.TempDir(), keyring: kr, bidxKey: []byte(strings.Repeat("k", 32)), lastID: map[string]int64{}}
	w.f.seeder = &fixtures.Seeder{DB: db, Engine: engine, Keyring: kr, BlindIndexKey: w.f.bidxKey}

	for _, t := range benchTables(rows) {
		if engine == schema.Postgres {
			err = copyRows(ctx, w.dsn, t)
		} else {
			err = insertRows(ctx, db, t)
		}
		if err != nil {
			b.Fatalf("populating %s: %v", t.name, err)
		}
	}
	analyze := "ANALYZE"
	if engine == schema.MySQL {
		analyze = "ANALYZE TABLE users, leads, lead_tags, messages, security_log, uploads, broadcast_deliveries, policy_notifications"
	}
	if _, err := db.ExecContext(ctx, analyze); err != nil {
		b.Fatal(err)
	}
	if err := populateRedis(ctx, rdb); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s with %d rows per table and %d Redis keys populated in %s", engine, rows, benchRedisKeys, time.Since(start).Round(time.Second))
	return w
}

// bench erases one subject of kind per iteration.
func (w *benchWorld) bench(b *testing.B, kind datamap.SubjectKind) {
	ctx := context.Background()
	var want int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		subject := w.seed(b, kind)
		b.StartTimer()

		db, err := schema.Open(w.engine, w.dsn)
		if err != nil {
			b.Fatal(err)
		}
		opts, err := redis.ParseURL(w.redisURL)
		if err != nil {
			b.Fatal(err)
		}
		rdb := redis.NewClient(opts)
		s := w.f.stores()
		s.DB, s.Redis = db, rdb
		e, err := New(s, datamap.Default(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := e.Run(ctx, Request{UID: fmt.Sprintf("bench-%s-%d-%d", kind, time.Now().UnixNano(), i), Subject: subject})
		_ = rdb.Close()
		_ = db.Close()
		if err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		tot := res.Totals()
		if want == 0 {
			want = tot.Erased
		}
		if tot.Erased != want || tot.Erased == 0 || tot.Remaining != 0 {
			b.Fatalf("iteration %d erased %+v, the first erased %d", i, tot, want)
		}
		b.StartTimer()
	}
}

// seed puts the benchmark's subject back: a user or a lead like the tests',
// with the rows of the reference tables, sessions and files.
func (w *benchWorld) seed(b *testing.B, kind datamap.SubjectKind) Subject {
	b.Helper()
	// The subject's id may come back: its retained rows go first.
	w.f.lastID = map[string]int64{}
	if kind == datamap.User {
		w.f.exec(b, "DELETE FROM security_log WHERE user_id > ?", w.rows)
		u := w.f.seedUser(b)
		return Subject{Kind: kind, Email: u.email}
	}
	l := w.f.seedLead(b)
	return Subject{Kind: kind, PSID: l.psid}
}

// benchTable is the bulk rows of one table.
type benchTable struct {
	name string
	cols []string
	n    int
	row  func(i int) []any
}

// benchTables describes rows rows of other subjects in every table of the
// map: user i and lead i (ids 1..rows) each with one row per table.
func benchTables(rows int) []benchTable {
	blob := []byte("v1:k1:not-a-real-ciphertext-of-bench-data")
	now := time.Now().UTC()
	bidx := func(kind string, i int) []byte {
		h := sha256.Sum256([]byte(kind + strconv.Itoa(i)))
		return h[:]
	}
	return []benchTable{
		{"users", []string{"id", "email_enc", "email_bidx"}, rows, func(i int) []any { return []any{int64(i + 1), blob, bidx("u", i)} }},
		{"leads", []string{"id", "page_id", "psid_enc", "psid_bidx"}, rows, func(i int) []any { return []any{int64(i + 1), "page-1", blob, bidx("l", i)} }},
		{"lead_tags", []string{"lead_id", "tag"}, rows, func(i int) []any { return []any{int64(i + 1), "tag"} }},
		{"messages", []string{"id", "lead_id", "direction", "text_enc"}, rows, func(i int) []any { return []any{int64(i + 1), int64(i + 1), "inbound", blob} }},
		{"security_log", []string{"id", "user_id", "ip_enc", "event", "created_at"}, rows, func(i int) []any {
			return []any{int64(i + 1), int64(i + 1), blob, "login", now.Add(-time.Duration(i%2000) * time.Hour)}
		}},
		{"broadcast_deliveries", []string{"id", "broadcast", "lead_id", "state"}, rows, func(i int) []any { return []any{int64(i + 1), "bc-1", int64(i + 1), "sent"} }},
		{"policy_notifications", []string{"id", "version", "user_id", "state"}, rows, func(i int) []any { return []any{int64(i + 1), "v1", int64(i + 1), "sent"} }},
		{"uploads", []string{"id", "user_id", "lead_id", "path", "size_bytes"}, rows, func(i int) []any {
			if i%2 == 0 {
				return []any{int64(i + 1), int64(i + 1), nil, "users/x", int64(1)}
			}
			return []any{int64(i + 1), nil, int64(i + 1), "leads/x", int64(1)}
		}},
	}
}

// copyRows loads a table with COPY.
func copyRows(ctx context.Context, dsn string, t benchTable) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromFunc(func() ([]any, error) {
		if i == t.n {
			return nil, nil
		}
		i++
		return t.row(i - 1), nil
	}))
	if err != nil {
		return err
	}
	// The ids were given: move the identity past them.
	if t.name != "lead_tags" {
		_, err = conn.Exec(ctx, fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), %d)", t.name, t.n))
	}
	return err
}

// insertRows loads a table with multi-row INSERTs of a few thousand rows.
func insertRows(ctx context.Context, db *sql.DB, t benchTable) error {
	per := min(5000, 60000/len(t.cols))
	rowPH := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION unique_checks = 0, foreign_key_checks = 0"); err != nil {
		return err
	}
	// The connection goes back to the pool: checks on again.
	defer conn.ExecContext(ctx, "SET SESSION unique_checks = 1, foreign_key_checks = 1") //nolint:errcheck // best effort
	for start := 0; start < t.n; start += per {
		end := min(t.n, start+per)
		args := make([]any, 0, (end-start)*len(t.cols))
		for i := start; i < end; i++ {
			args = append(args, t.row(i)...)
		}
		q := "INSERT INTO " + t.name + " (" + strings.Join(t.cols, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(rowPH+", ", end-start), ", ")
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// populateRedis writes benchRedisKeys keys: sessions of other users, nine
// per user, and each user's index set.
func populateRedis(ctx context.Context, rdb *redis.Client) error {
	const perUser = 9
	pipe := rdb.Pipeline()
	for u := 0; u < benchRedisKeys/(perUser+1); u++ {
		user := 1_000_000_000 + u
		for s := range perUser {
			sid := fmt.Sprintf("bench-%d-%d", user, s)
			pipe.Set(ctx, "sess:"+sid, `{"user":`+strconv.Itoa(user)+`}`, 0)
			pipe.SAdd(ctx, "user_sessions:"+strconv.Itoa(user), sid)
		}
		if pipe.Len() >= 2000 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}
