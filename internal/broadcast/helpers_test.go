package broadcast

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/messenger"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
)

// Test constants. The token and PSIDs are distinctive so that a leak into
// an error, a log record or a Progress is caught.
const (
	testToken  = "EAAGbroadcastTOKEN-do-not-leak-77"
	testPage   = "104857600000042"
	testTenant = "acme"
	testHost   = "acme.inboxchat.example"
)

var engines = []schema.Engine{schema.Postgres, schema.MySQL}

// forEachEngine runs f as a subtest against a fresh database of each engine.
func forEachEngine(t *testing.T, f func(t *testing.T, fx *fixture)) {
	t.Helper()
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			f(t, newFixture(t, engine))
		})
	}
}

// fixture is a tenant database with the reference schema, a keyring, an
// emulated Send API and a client for it.
type fixture struct {
	engine   schema.Engine
	db       *sql.DB
	keyring  *crypto.Keyring
	bidxKey  []byte
	unsubKey []byte
	emu      *messenger.Emulator
	client   *messenger.Client
	nextID   atomic.Int64
}

func newFixture(t testing.TB, engine schema.Engine) *fixture {
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
	db.SetMaxOpenConns(24)
	t.Cleanup(func() { _ = db.Close() })
	if _, err := schema.Apply(context.Background(), db, engine); err != nil {
		t.Fatalf("applying the schema: %v", err)
	}
	kr, err := crypto.NewKeyring(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{engine: engine, db: db, keyring: kr, bidxKey: randomKey(), unsubKey: randomKey()}
	fx.emu = startEmulator(t, messenger.EmulatorConfig{})
	fx.client = newClient(t, fx.emu, testToken)
	return fx
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func startEmulator(t testing.TB, cfg messenger.EmulatorConfig) *messenger.Emulator {
	t.Helper()
	if cfg.AccessTokens == nil {
		cfg.AccessTokens = []string{testToken}
	}
	e, err := messenger.NewEmulator(cfg)
	if err != nil {
		t.Fatalf("starting the emulator: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func newClient(t testing.TB, e *messenger.Emulator, token string) *messenger.Client {
	t.Helper()
	c, err := messenger.NewClient(messenger.ClientConfig{GraphAPIURL: e.URL(), PageID: testPage, AccessToken: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fastSender retries quickly so that tests of throttling stay short.
func fastSender(t testing.TB, c *messenger.Client, cfg messenger.SenderConfig) *messenger.Sender {
	t.Helper()
	if cfg.MessagesPerSecond == 0 {
		cfg.MessagesPerSecond = 300
	}
	if cfg.Workers == 0 {
		cfg.Workers = 8
	}
	if cfg.Backoff == (messenger.Backoff{}) {
		cfg.Backoff = messenger.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	if cfg.RecoveryInterval == 0 {
		cfg.RecoveryInterval = 50 * time.Millisecond
	}
	s, err := messenger.NewSender(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lead describes a lead to insert. The zero value is an opted-in,
// subscribed, reachable lead of testPage who wrote an hour ago.
type lead struct {
	psid, first, last string
	notOptedIn        bool
	unsubscribed      bool
	unreachable       bool
	lastInbound       time.Time // zero: an hour ago
	noInbound         bool
	page              string
	tags              []string
	// psidAD overrides the associated data the PSID is sealed with.
	psidAD string
}

// insertedLead is a lead as inserted.
type insertedLead struct {
	id                int64
	psid, first, last string
}

// addLeads inserts leads and returns them in order. Ids are assigned here,
// increasing, so that the rows need one INSERT each.
func (fx *fixture) addLeads(t testing.TB, leads ...lead) []insertedLead {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	out := make([]insertedLead, len(leads))
	q := rebind(fx.engine, `INSERT INTO leads (id, page_id, psid_enc, psid_bidx, first_name_enc, last_name_enc,
  opted_in_at, opt_in_source, last_inbound_at, unsubscribed_at, unreachable_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	for i, l := range leads {
		id := fx.nextID.Add(1)
		if l.psid == "" {
			l.psid = fmt.Sprintf("PSID-%d-%s", id, strings.ToUpper(rand.Text()[:6]))
		}
		if l.page == "" {
			l.page = testPage
		}
		psidAD := LeadAssociatedData("psid", id)
		if l.psidAD != "" {
			psidAD = []byte(l.psidAD)
		}
		psidEnc := fx.seal(t, l.psid, psidAD)
		var first, last []byte
		if l.first != "" {
			first = fx.seal(t, l.first, LeadAssociatedData("first_name", id))
		}
		if l.last != "" {
			last = fx.seal(t, l.last, LeadAssociatedData("last_name", id))
		}
		var optedIn, source, inbound, unsub, unreach any
		if !l.notOptedIn {
			optedIn, source = now.Add(-48*time.Hour), "messenger_conversation"
		}
		switch {
		case l.noInbound:
		case l.lastInbound.IsZero():
			inbound = now.Add(-time.Hour)
		default:
			inbound = l.lastInbound.UTC()
		}
		if l.unsubscribed {
			unsub = now.Add(-time.Hour)
		}
		if l.unreachable {
			unreach = now.Add(-time.Hour)
		}
		if _, err := fx.db.ExecContext(ctx, q, id, l.page, psidEnc, crypto.BlindIndex(fx.bidxKey, "psid", l.psid),
			first, last, optedIn, source, inbound, unsub, unreach); err != nil {
			t.Fatalf("inserting a lead: %v", err)
		}
		for _, tag := range l.tags {
			if _, err := fx.db.ExecContext(ctx, rebind(fx.engine, `INSERT INTO lead_tags (lead_id, tag) VALUES (?, ?)`), id, tag); err != nil {
				t.Fatalf("tagging a lead: %v", err)
			}
		}
		out[i] = insertedLead{id: id, psid: l.psid, first: l.first, last: l.last}
	}
	return out
}

// addPlainLeads inserts n default leads named First<i>.
func (fx *fixture) addPlainLeads(t testing.TB, n int) []insertedLead {
	t.Helper()
	ls := make([]lead, n)
	for i := range ls {
		ls[i] = lead{first: fmt.Sprintf("First%d", i), last: fmt.Sprintf("Last%d", i)}
	}
	return fx.addLeads(t, ls...)
}

func (fx *fixture) seal(t testing.TB, s string, ad []byte) []byte {
	t.Helper()
	b, err := fx.keyring.Seal([]byte(s), ad)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// config returns a valid Config for the fixture, sending fast.
func (fx *fixture) config(t testing.TB, name string) Config {
	t.Helper()
	return Config{
		DB:             fx.db,
		Engine:         fx.engine,
		Keyring:        fx.keyring,
		UnsubscribeKey: fx.unsubKey,
		Tenant:         testTenant,
		Host:           testHost,
		Broadcast:      name,
		PageID:         testPage,
		Text:           "Hi {{.FirstName}} {{.LastName}}, spring sale!",
		MessagingType:  messenger.MessagingTypeUpdate,
		Rate:           300,
		Sender:         fastSender(t, fx.client, messenger.SenderConfig{}),
	}
}

func mustNew(t testing.TB, cfg Config) *Runner {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// ledgerRow is one broadcast_deliveries row.
type ledgerRow struct {
	state, errorCode, skipReason, messageID string
}

// ledger reads the ledger of a broadcast by lead id.
func (fx *fixture) ledger(t testing.TB, name string) map[int64]ledgerRow {
	t.Helper()
	rows, err := fx.db.QueryContext(context.Background(), rebind(fx.engine,
		`SELECT lead_id, state, COALESCE(error_code, ''), COALESCE(skip_reason, ''), COALESCE(message_id, '')
FROM broadcast_deliveries WHERE broadcast = ?`), name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]ledgerRow{}
	for rows.Next() {
		var (
			id int64
			r  ledgerRow
		)
		if err := rows.Scan(&id, &r.state, &r.errorCode, &r.skipReason, &r.messageID); err != nil {
			t.Fatal(err)
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// exec runs a statement with ? placeholders.
func (fx *fixture) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := fx.db.ExecContext(context.Background(), rebind(fx.engine, q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// leadTime reads a nullable time column of a lead; ok is false for NULL.
func (fx *fixture) leadTime(t testing.TB, id int64, column string) (time.Time, bool) {
	t.Helper()
	var v sql.NullTime
	if err := fx.db.QueryRowContext(context.Background(), rebind(fx.engine, `SELECT `+column+` FROM leads WHERE id = ?`), id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v.Time, v.Valid
}

// assertNoPersonalData fails when any text shows one of the leads' PSIDs or
// names, or the access token.
func assertNoPersonalData(t testing.TB, what, text string, leads []insertedLead) {
	t.Helper()
	if strings.Contains(text, testToken) {
		t.Fatalf("%s contains the access token: %s", what, text)
	}
	for _, l := range leads {
		for _, s := range []string{l.psid, l.first, l.last} {
			if s != "" && strings.Contains(text, s) {
				t.Fatalf("%s contains personal data %q: %s", what, s, text)
			}
		}
	}
}

// eventually polls cond every 5 ms until it holds or d passes (Gomega's
// Eventually, for these plain tests).
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	gomega.NewWithT(t).Eventually(cond).WithTimeout(d).WithPolling(5*time.Millisecond).Should(gomega.BeTrue(), "waiting for %s", what)
}
