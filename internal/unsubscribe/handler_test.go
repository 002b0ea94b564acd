package unsubscribe

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/broadcast"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/messenger"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
)

const (
	testTenant = "acme"
	testHost   = "acme.inboxchat.example"
	testPage   = "104857600000042"
	testToken  = "EAAGunsubscribeTOKEN-77"
)

// fixture is a tenant database with leads and an unsubscribe server.
type fixture struct {
	engine  schema.Engine
	db      *sql.DB
	keyring *crypto.Keyring
	key     []byte
	clock   atomic.Pointer[time.Time]
	srv     *httptest.Server
	nextID  int64
	psids   map[int64]string
}

func forEachEngine(t *testing.T, f func(t *testing.T, fx *fixture)) {
	for _, engine := range []schema.Engine{schema.Postgres, schema.MySQL} {
		t.Run(string(engine), func(t *testing.T) { f(t, newFixture(t, engine)) })
	}
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
	db.SetMaxOpenConns(16)
	t.Cleanup(func() { _ = db.Close() })
	if _, err := schema.Apply(context.Background(), db, engine); err != nil {
		t.Fatal(err)
	}
	kr, err := crypto.NewKeyring(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{engine: engine, db: db, keyring: kr, key: randomKey(), psids: map[int64]string{}}
	start := time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)
	fx.clock.Store(&start)
	fx.srv = httptest.NewServer(&Handler{DB: db, Engine: engine, Key: fx.key, Tenant: testTenant,
		Now: func() time.Time { return *fx.clock.Load() }})
	t.Cleanup(fx.srv.Close)
	return fx
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func (fx *fixture) setClock(t time.Time) { fx.clock.Store(&t) }

// addLead inserts an opted-in lead who wrote an hour ago.
func (fx *fixture) addLead(t *testing.T) int64 {
	t.Helper()
	fx.nextID++
	id := fx.nextID
	psid := fmt.Sprintf("PSID-%d-%s", id, rand.Text()[:8])
	enc, err := fx.keyring.Seal([]byte(psid), broadcast.LeadAssociatedData("psid", id))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	q := `INSERT INTO leads (id, page_id, psid_enc, psid_bidx, opted_in_at, opt_in_source, last_inbound_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
	if fx.engine == schema.Postgres {
		q = `INSERT INTO leads (id, page_id, psid_enc, psid_bidx, opted_in_at, opt_in_source, last_inbound_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	}
	if _, err := fx.db.Exec(q, id, testPage, enc, crypto.BlindIndex(randomKey(), "psid", psid), now.Add(-48*time.Hour), "messenger", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	fx.psids[id] = psid
	return id
}

// unsubscribedAt reads a lead's unsubscribed_at.
func (fx *fixture) unsubscribedAt(t *testing.T, id int64) (time.Time, bool) {
	t.Helper()
	q := `SELECT unsubscribed_at FROM leads WHERE id = ?`
	if fx.engine == schema.Postgres {
		q = `SELECT unsubscribed_at FROM leads WHERE id = $1`
	}
	var v sql.NullTime
	if err := fx.db.QueryRow(q, id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v.Time, v.Valid
}

// unsubscribedCount counts leads with unsubscribed_at set.
func (fx *fixture) unsubscribedCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := fx.db.QueryRow(`SELECT COUNT(*) FROM leads WHERE unsubscribed_at IS NOT NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (fx *fixture) token(t *testing.T, key []byte, tenant string, leadID int64) string {
	t.Helper()
	tok, err := crypto.SignUnsubscribe(key, crypto.UnsubscribeClaims{
		Tenant: tenant, LeadID: strconv.FormatInt(leadID, 10), Broadcast: "spring-sale", IssuedAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends a request to the server and returns the status and body.
func (fx *fixture) do(t *testing.T, method, path string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, fx.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// assertPage checks a page's status, headers and that it shows no token.
func assertPage(t *testing.T, resp *http.Response, body string, status int, contains, token string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body: %s", resp.StatusCode, status, body)
	}
	want := map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if !strings.Contains(body, contains) {
		t.Errorf("page does not say %q:\n%s", contains, body)
	}
	if token != "" && strings.Contains(body, token) {
		t.Errorf("the page shows the token")
	}
}

func TestUnsubscribeRoundTrip(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		id := fx.addLead(t)
		other := fx.addLead(t)
		tok := fx.token(t, fx.key, testTenant, id)

		resp, body := fx.do(t, http.MethodGet, Path+tok)
		assertPage(t, resp, body, http.StatusOK, "Do you want to stop receiving", tok)
		if !strings.Contains(body, `<form method="post">`) {
			t.Fatalf("the confirmation page has no form posting back:\n%s", body)
		}
		if n := fx.unsubscribedCount(t); n != 0 {
			t.Fatal("GET wrote to the database")
		}
		if resp, _ := fx.do(t, http.MethodHead, Path+tok); resp.StatusCode != http.StatusOK || fx.unsubscribedCount(t) != 0 {
			t.Fatal("HEAD failed or wrote")
		}

		first := time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)
		fx.setClock(first)
		resp, body = fx.do(t, http.MethodPost, Path+tok)
		assertPage(t, resp, body, http.StatusOK, "You are unsubscribed", tok)
		at, ok := fx.unsubscribedAt(t, id)
		if !ok || !at.Equal(first) {
			t.Fatalf("unsubscribed_at = %v (set %v), want %v", at, ok, first)
		}
		if _, ok := fx.unsubscribedAt(t, other); ok {
			t.Fatal("another lead was unsubscribed")
		}

		fx.setClock(first.Add(time.Hour))
		resp, body = fx.do(t, http.MethodPost, Path+tok)
		assertPage(t, resp, body, http.StatusOK, "You are unsubscribed", tok)
		if at, _ := fx.unsubscribedAt(t, id); !at.Equal(first) {
			t.Fatalf("a second POST moved unsubscribed_at to %v, want the first time %v", at, first)
		}
	})
}

func TestBadTokensGetA400AndNoWrite(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		id := fx.addLead(t)
		good := fx.token(t, fx.key, testTenant, id)
		payload, sig, _ := strings.Cut(good, ".")
		flipped := []byte(sig)
		flipped[3] ^= 1
		if flipped[3] == '.' || flipped[3] > 'z' {
			flipped[3] = 'A'
		}
		tests := map[string]string{
			"truncated":       good[:len(good)-5],
			"payload only":    payload,
			"altered":         payload + "." + string(flipped),
			"other key":       fx.token(t, randomKey(), testTenant, id),
			"foreign tenant":  fx.token(t, fx.key, "globex", id),
			"garbage":         "not-a-token",
			"empty":           "",
			"escaped slashes": url.PathEscape("a/b") + "." + sig,
		}
		for name, tok := range tests {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				resp, body := fx.do(t, method, Path+tok)
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("%s token, %s: status %d, want 400", name, method, resp.StatusCode)
				}
				assertPage(t, resp, body, http.StatusBadRequest, "not valid", "")
			}
		}
		if n := fx.unsubscribedCount(t); n != 0 {
			t.Fatalf("%d leads unsubscribed by bad tokens", n)
		}
	})
}

func TestAnUnknownLeadGetsTheSamePageAndNoWrite(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.addLead(t)
		tok := fx.token(t, fx.key, testTenant, 987654)
		resp, body := fx.do(t, http.MethodPost, Path+tok)
		assertPage(t, resp, body, http.StatusOK, "You are unsubscribed", tok)
		if n := fx.unsubscribedCount(t); n != 0 {
			t.Fatal("a write happened for an unknown lead")
		}
	})
}

func TestOtherRoutes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		if resp, body := fx.do(t, http.MethodGet, "/healthz"); resp.StatusCode != http.StatusOK || body != "ok\n" {
			t.Fatalf("/healthz = %d %q", resp.StatusCode, body)
		}
		if resp, _ := fx.do(t, http.MethodGet, "/readyz"); resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz = %d", resp.StatusCode)
		}
		resp, body := fx.do(t, http.MethodGet, "/")
		assertPage(t, resp, body, http.StatusNotFound, "nothing here", "")
		resp, body = fx.do(t, http.MethodDelete, Path+fx.token(t, fx.key, testTenant, 1))
		assertPage(t, resp, body, http.StatusMethodNotAllowed, "GET and POST", "")
		if resp.Header.Get("Allow") != "GET, HEAD, POST" {
			t.Fatalf("Allow = %q", resp.Header.Get("Allow"))
		}
		if got := RedactPath(Path + "abc.def"); got != "/unsubscribe/[token]" {
			t.Fatalf("RedactPath = %q", got)
		}
	})
}

func TestTheNextBroadcastSkipsAnUnsubscribedLead(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ids := []int64{fx.addLead(t), fx.addLead(t), fx.addLead(t)}
		emu, err := messenger.NewEmulator(messenger.EmulatorConfig{AccessTokens: []string{testToken}})
		if err != nil {
			t.Fatal(err)
		}
		defer emu.Close()
		client, err := messenger.NewClient(messenger.ClientConfig{GraphAPIURL: emu.URL(), PageID: testPage, AccessToken: testToken})
		if err != nil {
			t.Fatal(err)
		}
		run := func(name string) broadcast.Progress {
			t.Helper()
			r, err := broadcast.New(broadcast.Config{
				DB: fx.db, Engine: fx.engine, Keyring: fx.keyring, UnsubscribeKey: fx.key,
				Tenant: testTenant, Host: testHost, Broadcast: name, PageID: testPage,
				Text: "News!", MessagingType: messenger.MessagingTypeUpdate, Rate: 300, Client: client,
			})
			if err != nil {
				t.Fatal(err)
			}
			p, err := r.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		if p := run("first"); p.Sent != 3 {
			t.Fatalf("first broadcast: %+v", p)
		}

		// Follow the link in the second lead's message.
		target := fx.psids[ids[1]]
		var link string
		for _, d := range emu.Deliveries() {
			if d.PSID == target {
				_, link, _ = strings.Cut(d.Text, "Unsubscribe: ")
			}
		}
		u, err := url.Parse(link)
		if err != nil || u.Host != testHost || !strings.HasPrefix(u.Path, Path) {
			t.Fatalf("message link %q is not https://%s%s<token>", link, testHost, Path)
		}
		if resp, _ := fx.do(t, http.MethodGet, u.Path); resp.StatusCode != http.StatusOK || fx.unsubscribedCount(t) != 0 {
			t.Fatal("GET of the link failed or wrote")
		}
		if resp, _ := fx.do(t, http.MethodPost, u.Path); resp.StatusCode != http.StatusOK {
			t.Fatalf("POST of the link: %d", resp.StatusCode)
		}
		if _, ok := fx.unsubscribedAt(t, ids[1]); !ok {
			t.Fatal("the lead is not unsubscribed")
		}

		p := run("second")
		if p.Audience != 2 || p.Sent != 2 {
			t.Fatalf("second broadcast: %+v, want the unsubscribed lead left out", p)
		}
		if n := emu.CountFor(target); n != 1 {
			t.Fatalf("the unsubscribed lead got %d messages in total, want only the first", n)
		}
	})
}

func TestValidate(t *testing.T) {
	if err := (&Handler{}).Validate(); err == nil {
		t.Fatal("an empty Handler validated")
	}
	h := &Handler{DB: &sql.DB{}, Engine: schema.MySQL, Key: randomKey(), Tenant: testTenant}
	if err := h.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	h.Key = []byte("short")
	if err := h.Validate(); err == nil || strings.Contains(err.Error(), "short") {
		t.Fatalf("Validate with a short key = %v; want an error that does not show the key", err)
	}
}
