package policynotify

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
	"github.com/inboxchat/inboxchat-operator/internal/mail/smtptest"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
)

// engines lists the engines every ledger test runs against.
var engines = []schema.Engine{schema.Postgres, schema.MySQL}

const (
	smtpUser     = "notify"
	smtpPassword = "smtp-password-for-tests"
	smtpFrom     = "Acme Chat <noreply@acme.test>"
	testSummary  = "We now keep login records for 30 days instead of 90."
	testURL      = "https://acme.test/privacy/v2"
)

var testEffectiveAt = time.Date(2027, time.March, 1, 0, 0, 0, 0, time.UTC)

// fixture is a tenant database with the reference schema, a keyring, and
// an SMTP server that requires STARTTLS and AUTH.
type fixture struct {
	t       testing.TB
	engine  schema.Engine
	dsn     string
	db      *sql.DB
	keyring *crypto.Keyring
	bidxKey []byte
	smtp    *smtptest.Server
	mailer  *mail.Mailer
	nextID  int64
	logs    *syncBuffer
}

func newFixture(t testing.TB, engine schema.Engine) *fixture {
	t.Helper()
	f := &fixture{t: t, engine: engine, nextID: 1, logs: &syncBuffer{}}
	switch engine {
	case schema.Postgres:
		f.dsn = storetest.Postgres(t)
	case schema.MySQL:
		f.dsn = storetest.MySQL(t)
	}
	db, err := schema.Open(engine, f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := schema.Apply(context.Background(), db, engine); err != nil {
		t.Fatalf("applying the reference schema: %v", err)
	}
	f.db = db
	if f.keyring, err = crypto.NewKeyring(time.Now()); err != nil {
		t.Fatal(err)
	}
	f.bidxKey = bytes.Repeat([]byte{7}, 32)
	f.smtp = smtptest.New(t, smtptest.WithSTARTTLS(), smtptest.WithAuth(smtpUser, smtpPassword))
	f.mailer = f.newMailer(smtpPassword)
	return f
}

// newMailer returns a Mailer for the fixture's server that requires
// STARTTLS and logs in with password.
func (f *fixture) newMailer(password string) *mail.Mailer {
	f.t.Helper()
	m, err := mail.NewMailer(mail.Settings{
		Host: f.smtp.Host(), Port: f.smtp.Port(), Username: smtpUser, Password: password,
		From: smtpFrom, TLS: mail.TLSStartTLS,
	}, mail.WithTLSConfig(f.smtp.ClientTLSConfig()), mail.WithTimeout(5*time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// config returns a Config for version with fast retries and no rate limit.
func (f *fixture) config(version string) Config {
	return Config{
		DB: f.db, Engine: f.engine, Keyring: f.keyring, Mailer: f.mailer,
		Version: version, EffectiveAt: testEffectiveAt, DocumentURL: testURL,
		Summary: testSummary, Product: "Acme Chat", RequireReacceptance: true,
		Rate: rate.Inf, RetryBackoff: 5 * time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond,
		PageSize: 7, // several pages even for a handful of users
		Logger:   slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (f *fixture) notifier(cfg Config) *Notifier {
	f.t.Helper()
	n, err := New(cfg)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return n
}

// user describes a row of users to insert.
type user struct {
	deleted     bool
	optedOut    bool   // notify_email false
	accepted    string // policy_version_accepted
	emailSealAD string // associated data to seal the address with, if not the right one
}

// address is the e-mail address of user id.
func address(id int64) string { return fmt.Sprintf("user%d@tenant.test", id) }

// addUsers inserts n users like u and returns their ids.
func (f *fixture) addUsers(n int, u user) []int64 {
	f.t.Helper()
	const batch = 500
	var ids []int64
	for n > 0 {
		k := min(n, batch)
		var (
			b    strings.Builder
			args []any
		)
		b.WriteString("INSERT INTO users (id, email_enc, email_bidx, notify_email, deleted_at, policy_version_accepted, policy_accepted_at) VALUES ")
		for i := range k {
			id := f.nextID
			f.nextID++
			ad := string(emailAssociatedData(id))
			if u.emailSealAD != "" {
				ad = u.emailSealAD
			}
			enc, err := f.keyring.Seal([]byte(address(id)), []byte(ad))
			if err != nil {
				f.t.Fatal(err)
			}
			var deletedAt, acceptedAt, accepted any
			if u.deleted {
				deletedAt = time.Now().UTC()
			}
			if u.accepted != "" {
				accepted, acceptedAt = u.accepted, time.Now().UTC()
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
			args = append(args, id, enc, crypto.BlindIndex(f.bidxKey, "email", address(id)), !u.optedOut, deletedAt, accepted, acceptedAt)
			ids = append(ids, id)
		}
		if _, err := f.db.Exec(rebind(f.engine, b.String()), args...); err != nil {
			f.t.Fatalf("inserting users: %v", err)
		}
		n -= k
	}
	return ids
}

// ledgerRow is one policy_notifications row.
type ledgerRow struct {
	state string
	code  string
	sent  bool
}

// ledger reads the rows of version by user id.
func (f *fixture) ledger(version string) map[int64]ledgerRow {
	f.t.Helper()
	rows, err := f.db.Query(rebind(f.engine, "SELECT user_id, state, error_code, sent_at FROM policy_notifications WHERE version = ?"), version)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]ledgerRow{}
	for rows.Next() {
		var (
			id   int64
			r    ledgerRow
			code sql.NullString
			sent sql.NullTime
		)
		if err := rows.Scan(&id, &r.state, &code, &sent); err != nil {
			f.t.Fatal(err)
		}
		r.code, r.sent = code.String, sent.Valid
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// received counts the messages the server accepted per envelope recipient
// and fails the test if a message had more than one.
func (f *fixture) received() map[string]int {
	f.t.Helper()
	out := map[string]int{}
	for _, m := range f.smtp.Messages() {
		if len(m.To) != 1 || len(m.Header["To"]) != 1 || strings.Contains(m.Header.Get("To"), ",") {
			f.t.Fatalf("a message was addressed to %d envelope recipients (To: %q); want one per message", len(m.To), m.Header.Get("To"))
		}
		out[m.To[0]]++
	}
	return out
}

// wantEachOnce fails unless every user in ids received exactly one message
// and nobody else received any.
func (f *fixture) wantEachOnce(ids []int64) {
	f.t.Helper()
	got := f.received()
	for _, id := range ids {
		if got[address(id)] != 1 {
			f.t.Errorf("user %d received %d messages, want 1", id, got[address(id)])
		}
		delete(got, address(id))
	}
	for addr, n := range got {
		f.t.Errorf("%s received %d messages, want none", addr, n)
	}
}

// wantNoAddresses fails if s holds an e-mail address.
func wantNoAddresses(t testing.TB, what, s string) {
	t.Helper()
	if strings.Contains(s, "@") {
		t.Errorf("%s contains an e-mail address: %q", what, s)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// forEngine runs test once per engine, in parallel.
func forEngine(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			test(t, newFixture(t, engine))
		})
	}
}

// senderFunc adapts a function to Sender.
type senderFunc func(ctx context.Context, msg mail.Message) error

func (f senderFunc) Send(ctx context.Context, msg mail.Message) error { return f(ctx, msg) }

// exec runs a statement written with ? placeholders.
func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(rebind(f.engine, q), args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}
