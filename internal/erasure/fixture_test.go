package erasure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
)

// engines are the database engines every behaviour is checked on.
var engines = []schema.Engine{schema.Postgres, schema.MySQL}

// securityLogs is the tenant's retention of security-log rows in the tests.
const securityLogs = 720 * time.Hour

// exportsRetention is the tenant's retention of exports in the tests.
const exportsRetention = 7 * 24 * time.Hour

// fixture is a tenant with the reference schema on real stores.
type fixture struct {
	engine  schema.Engine
	db      *sql.DB
	rdb     *redis.Client
	root    string
	keyring *crypto.Keyring
	bidxKey []byte
	seeder  *fixtures.Seeder
	seq     int
	// lastID is the highest id handed out per table, so that an erased
	// subject's id is never handed out again (its retained rows would
	// become the new subject's).
	lastID map[string]int64
}

// newFixture makes a database of engine with the reference schema, a
// leased Redis database and a files volume.
func newFixture(t *testing.T, engine schema.Engine) *fixture {
	t.Helper()
	ctx := context.Background()
	dsn := storetest.Postgres
	if engine == schema.MySQL {
		dsn = storetest.MySQL
	}
	db, err := schema.Open(engine, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := schema.Apply(ctx, db, engine); err != nil {
		t.Fatalf("applying the reference schema: %v", err)
	}
	opts, err := redis.ParseURL(storetest.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	kr, err := crypto.NewKeyring(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{engine: engine, db: db, rdb: rdb, root: t.TempDir(), keyring: kr, bidxKey: bytes.Repeat([]byte{7}, 32),
		lastID: map[string]int64{}}
	f.seeder = &fixtures.Seeder{DB: db, Engine: engine, Keyring: kr, BlindIndexKey: f.bidxKey}
	return f
}

// stores returns the fixture's stores.
func (f *fixture) stores() Stores {
	return Stores{DB: f.db, Engine: f.engine, Redis: f.rdb, FilesRoot: f.root, Keyring: f.keyring, BlindIndexKey: f.bidxKey,
		Retention: Retention{SecurityLogs: securityLogs, Exports: exportsRetention}}
}

// newEngine returns an engine over the fixture with the built-in map.
func (f *fixture) newEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e, err := New(f.stores(), datamap.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// exec runs a statement with ? placeholders.
func (f *fixture) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(rebind(f.engine, q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// count runs a COUNT(*) query with ? placeholders.
func (f *fixture) count(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := f.db.QueryRow(rebind(f.engine, q), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// writeFile writes a file under the volume, making its folders.
func (f *fixture) writeFile(t testing.TB, rel string, content string) {
	t.Helper()
	p := filepath.Join(f.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// noReuse makes sure that the seeder's next id of table (MAX(id) + 1) is
// above every id handed out before, by adding a placeholder row with the
// last id when that row was erased.
func (f *fixture) noReuse(t testing.TB, table string) {
	t.Helper()
	last := f.lastID[table]
	if last == 0 || f.count(t, "SELECT COUNT(*) FROM "+table+" WHERE id >= ?", last) > 0 {
		return
	}
	bidx := sha256.Sum256([]byte(fmt.Sprintf("placeholder %s %d", table, last)))
	if table == "users" {
		f.exec(t, "INSERT INTO users (id, email_enc, email_bidx) VALUES (?, ?, ?)", last, []byte("placeholder"), bidx[:])
	} else {
		f.exec(t, "INSERT INTO leads (id, page_id, psid_enc, psid_bidx) VALUES (?, 'page-0', ?, ?)", last, []byte("placeholder"), bidx[:])
	}
}

// seededUser is a User with data in every store.
type seededUser struct {
	id                int64
	email, name       string
	ips               []string // security log: two recent, one old
	sessions          map[string]string
	files             map[string]string // path under users/<id>/ -> content
	expectedDatabase  int64             // rows erased
	expectedRetained  int64             // security-log rows kept
	expectedSessions  int64             // keys erased
	expectedFilePaths int64             // folders and files erased
}

// seedUser inserts a user with policy notifications, uploads, security-log
// rows (two inside the retention, one past it), two live sessions (and an
// expired one still listed in the index set) and a folder of files.
func (f *fixture) seedUser(t testing.TB) seededUser {
	t.Helper()
	ctx := context.Background()
	f.seq++
	n := f.seq
	u := seededUser{
		email: fmt.Sprintf(" Jane.Doe+%d@Example.com", n), name: fmt.Sprintf("Jane Doe %d", n),
		ips:      []string{fmt.Sprintf("203.0.113.%d", n%250+1), fmt.Sprintf("198.51.100.%d", n%250+1), fmt.Sprintf("192.0.2.%d", n%250+1)},
		sessions: map[string]string{},
		files:    map[string]string{"cv.txt": fmt.Sprintf("curriculum vitae of Jane Doe %d", n), "docs/passport.txt": fmt.Sprintf("passport number P%07d", n)},
	}
	f.noReuse(t, "users")
	id, err := f.seeder.AddUser(ctx, fixtures.User{Email: strings.TrimSpace(u.email), Name: u.name, NotifyEmail: true, PolicyVersionAccepted: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	u.id, f.lastID["users"] = id, id
	for _, v := range []string{"v1", "v2"} {
		f.exec(t, "INSERT INTO policy_notifications (version, user_id, state) VALUES (?, ?, 'sent')", v, id)
	}
	for i, name := range slices.Sorted(maps.Keys(u.files)) {
		f.exec(t, "INSERT INTO uploads (user_id, path, size_bytes) VALUES (?, ?, ?)", id, fmt.Sprintf("users/%d/%s", id, name), i+1)
		f.writeFile(t, fmt.Sprintf("users/%d/%s", id, name), u.files[name])
	}
	now := time.Now().UTC()
	for i, at := range []time.Time{now.Add(-time.Hour), now.Add(-48 * time.Hour), now.Add(-securityLogs - 48*time.Hour)} {
		if err := f.seeder.AddSecurityLog(ctx, id, u.ips[i], "login", at); err != nil {
			t.Fatal(err)
		}
	}
	idx := "user_sessions:" + strconv.FormatInt(id, 10)
	for i := range 2 {
		sid := fmt.Sprintf("s%d-%d-%x", n, i, time.Now().UnixNano())
		u.sessions[sid] = fmt.Sprintf(`{"user":%d,"email":%q}`, id, strings.TrimSpace(u.email))
		if err := f.rdb.Set(ctx, "sess:"+sid, u.sessions[sid], time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if err := f.rdb.SAdd(ctx, idx, sid).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.rdb.SAdd(ctx, idx, fmt.Sprintf("expired-%d", n)).Err(); err != nil {
		t.Fatal(err)
	}
	u.expectedDatabase = 1 + 2 + 2 + 1
	u.expectedRetained = 2
	u.expectedSessions = 2 + 1
	u.expectedFilePaths = 4 // users/<id>, cv.txt, docs, docs/passport.txt
	return u
}

// seededLead is a Lead with data in every store.
type seededLead struct {
	id                int64
	psid, first, last string
	messages          []string
	photo             string
	expectedDatabase  int64
	expectedFilePaths int64
}

// seedLead inserts a lead with tags, messages, deliveries, an upload and a
// folder.
func (f *fixture) seedLead(t testing.TB) seededLead {
	t.Helper()
	ctx := context.Background()
	f.seq++
	n := f.seq
	l := seededLead{psid: fmt.Sprintf("2487%012d", n), first: fmt.Sprintf("Juan%d", n), last: "Pérez",
		messages: []string{fmt.Sprintf("hola %d", n), "quiero información", fmt.Sprintf("mi teléfono es 555-01%02d", n%100)},
		photo:    fmt.Sprintf("JPEG of lead %d", n)}
	f.noReuse(t, "leads")
	id, err := f.seeder.AddLead(ctx, fixtures.Lead{PageID: "page-1", PSID: l.psid, FirstName: l.first, LastName: l.last,
		Tags: []string{"vip", "spring"}, OptedIn: true})
	if err != nil {
		t.Fatal(err)
	}
	l.id, f.lastID["leads"] = id, id
	for i, text := range l.messages {
		dir := "inbound"
		if i == 1 {
			dir = "outbound"
		}
		if err := f.seeder.AddMessage(ctx, id, dir, text); err != nil {
			t.Fatal(err)
		}
	}
	for _, bc := range []string{"bc-a", "bc-b"} {
		f.exec(t, "INSERT INTO broadcast_deliveries (broadcast, lead_id, state, message_id) VALUES (?, ?, 'sent', ?)", bc, id, "mid."+bc)
	}
	f.exec(t, "INSERT INTO uploads (lead_id, path, size_bytes) VALUES (?, ?, 14)", id, fmt.Sprintf("leads/%d/photo.jpg", id))
	f.writeFile(t, fmt.Sprintf("leads/%d/photo.jpg", id), l.photo)
	l.expectedDatabase = 1 + 2 + 3 + 2 + 1
	l.expectedFilePaths = 2
	return l
}

// expectUser is the result of erasing a seeded user.
func expectUser(u seededUser) []StoreResult {
	return []StoreResult{
		{Name: "sessions", Erased: u.expectedSessions},
		{Name: "files", Erased: u.expectedFilePaths},
		{Name: "database", Erased: u.expectedDatabase, Retained: u.expectedRetained, RetainedReason: "security: security_log kept for 720h"},
	}
}

// expectLead is the result of erasing a seeded lead.
func expectLead(l seededLead) []StoreResult {
	return []StoreResult{
		{Name: "sessions"},
		{Name: "files", Erased: l.expectedFilePaths},
		{Name: "database", Erased: l.expectedDatabase},
	}
}

// userRows counts what the database still holds of a user, per table.
func (f *fixture) userRows(t testing.TB, id int64) map[string]int64 {
	t.Helper()
	return map[string]int64{
		"users":                f.count(t, "SELECT COUNT(*) FROM users WHERE id = ?", id),
		"policy_notifications": f.count(t, "SELECT COUNT(*) FROM policy_notifications WHERE user_id = ?", id),
		"uploads":              f.count(t, "SELECT COUNT(*) FROM uploads WHERE user_id = ?", id),
		"security_log":         f.count(t, "SELECT COUNT(*) FROM security_log WHERE user_id = ?", id),
	}
}

// leadRows counts what the database still holds of a lead, per table.
func (f *fixture) leadRows(t testing.TB, id int64) map[string]int64 {
	t.Helper()
	return map[string]int64{
		"leads":                f.count(t, "SELECT COUNT(*) FROM leads WHERE id = ?", id),
		"lead_tags":            f.count(t, "SELECT COUNT(*) FROM lead_tags WHERE lead_id = ?", id),
		"messages":             f.count(t, "SELECT COUNT(*) FROM messages WHERE lead_id = ?", id),
		"broadcast_deliveries": f.count(t, "SELECT COUNT(*) FROM broadcast_deliveries WHERE lead_id = ?", id),
		"uploads":              f.count(t, "SELECT COUNT(*) FROM uploads WHERE lead_id = ?", id),
	}
}

// exists reports whether a path exists under the volume (not following a
// final link).
func (f *fixture) exists(t testing.TB, rel string) bool {
	t.Helper()
	_, err := os.Lstat(filepath.Join(f.root, filepath.FromSlash(rel)))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// redisKeys lists every key of the fixture's Redis database, with SCAN.
func (f *fixture) redisKeys(t testing.TB) []string {
	t.Helper()
	var (
		out    []string
		cursor uint64
	)
	for {
		keys, next, err := f.rdb.Scan(context.Background(), cursor, "*", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, keys...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	slices.Sort(out)
	return out
}

// snapshot describes every store: row counts per table, every Redis key and
// every path of the volume, for "nothing changed" checks.
func (f *fixture) snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"users", "leads", "lead_tags", "messages", "security_log", "uploads",
		"broadcast_deliveries", "policy_notifications", "erasure_ledger", "legal_holds"} {
		fmt.Fprintf(&b, "%s=%d\n", table, f.count(t, "SELECT COUNT(*) FROM "+table))
	}
	for _, k := range f.redisKeys(t) {
		fmt.Fprintf(&b, "key %s\n", k)
	}
	err := filepath.WalkDir(f.root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(f.root, p)
		fmt.Fprintf(&b, "path %s\n", rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// uid returns a fresh request UID for a test.
func uid(t testing.TB, suffix string) string {
	t.Helper()
	return fmt.Sprintf("req-%x-%s", time.Now().UnixNano(), suffix)
}
