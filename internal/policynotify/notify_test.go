package policynotify

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

func TestRunMailsEveryUserOnce(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		active := f.addUsers(20, user{})
		optedOut := f.addUsers(3, user{optedOut: true})
		f.addUsers(2, user{deleted: true})
		everyone := append(append([]int64(nil), active...), optedOut...)

		p, err := f.notifier(f.config("2.0")).Run(context.Background())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if want := (Progress{Recipients: 23, Sent: 23}); p != want {
			t.Errorf("Run = %+v, want %+v", p, want)
		}
		f.wantEachOnce(everyone)

		for _, m := range f.smtp.Messages() {
			if !m.TLS || m.Username != smtpUser {
				t.Fatalf("message arrived with TLS=%v as %q; want STARTTLS and AUTH as %q", m.TLS, m.Username, smtpUser)
			}
			if m.ContentType != "multipart/alternative" {
				t.Fatalf("content type %q, want text and HTML alternatives", m.ContentType)
			}
			for part, body := range map[string]string{"text": m.Text, "HTML": m.HTML} {
				for what, want := range map[string]string{
					"summary": testSummary, "version": "2.0", "effective date": "1 March 2027", "link": testURL,
					"re-acceptance": "accept the new policy",
				} {
					if !strings.Contains(body, want) {
						t.Fatalf("the %s body lacks the %s %q:\n%s", part, what, want, body)
					}
				}
			}
			if !strings.Contains(m.Subject, "2.0") {
				t.Fatalf("subject %q does not name the version", m.Subject)
			}
		}

		rows := f.ledger("2.0")
		if len(rows) != 23 {
			t.Fatalf("the ledger has %d rows, want 23", len(rows))
		}
		for id, r := range rows {
			if r.state != stateSent || !r.sent || r.code != "" {
				t.Errorf("ledger row of user %d = %+v, want sent with sent_at", id, r)
			}
		}

		t.Run("a second run sends nothing", func(t *testing.T) {
			again, err := f.notifier(f.config("2.0")).Run(context.Background())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if again != p {
				t.Errorf("second Run = %+v, want %+v", again, p)
			}
			if n := len(f.smtp.Messages()); n != 23 {
				t.Errorf("%d messages after the second run, want still 23", n)
			}
		})

		t.Run("a new version is mailed again", func(t *testing.T) {
			p3, err := f.notifier(f.config("3.0")).Run(context.Background())
			if err != nil || p3.Sent != 23 {
				t.Fatalf("Run for 3.0 = %+v, %v; want 23 sent", p3, err)
			}
		})
		wantNoAddresses(t, "the log", f.logs.String())
	})
}

func TestRunDecisions(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		optedOut := f.addUsers(1, user{optedOut: true})[0]
		deleted := f.addUsers(1, user{deleted: true})[0]
		badSeal := f.addUsers(1, user{emailSealAD: "users.email:999"})[0]
		ok := f.addUsers(1, user{})[0]

		p, err := f.notifier(f.config("v1")).Run(context.Background())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		got := f.received()
		t.Run("a user who turned off activity e-mail still gets the policy notice", func(t *testing.T) {
			if got[address(optedOut)] != 1 {
				t.Errorf("opted-out user received %d messages, want 1", got[address(optedOut)])
			}
		})
		t.Run("a deleted user gets nothing and is no recipient", func(t *testing.T) {
			if got[address(deleted)] != 0 {
				t.Errorf("deleted user received %d messages", got[address(deleted)])
			}
			if _, ok := f.ledger("v1")[deleted]; ok {
				t.Error("the deleted user has a ledger row")
			}
		})
		t.Run("an address the keyring cannot open is a failure, not a send", func(t *testing.T) {
			if got[address(badSeal)] != 0 {
				t.Error("the user with the wrongly sealed address was mailed")
			}
			if r := f.ledger("v1")[badSeal]; r.state != stateFailed || r.code != ErrorCodeUndecryptable {
				t.Errorf("ledger row = %+v, want failed %s", r, ErrorCodeUndecryptable)
			}
		})
		if got[address(ok)] != 1 {
			t.Errorf("user %d received %d messages, want 1", ok, got[address(ok)])
		}
		if want := (Progress{Recipients: 3, Sent: 2, Failed: 1}); p != want {
			t.Errorf("Run = %+v, want %+v", p, want)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	kr, err := crypto.NewKeyring(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	base := func() Config {
		return Config{
			DB: &sql.DB{}, Engine: schema.Postgres, Keyring: kr, Mailer: senderFunc(nil),
			Version: "v1", EffectiveAt: testEffectiveAt, DocumentURL: testURL, Summary: testSummary,
			Product: "Acme Chat", Rate: 10,
		}
	}
	if _, err := New(base()); err != nil {
		t.Fatalf("New with a valid config: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no database", func(c *Config) { c.DB = nil }, "DB is nil"},
		{"unknown engine", func(c *Config) { c.Engine = "oracle" }, `engine "oracle"`},
		{"no keyring", func(c *Config) { c.Keyring = nil }, "Keyring is nil"},
		{"no mailer", func(c *Config) { c.Mailer = nil }, "Mailer is nil"},
		{"empty version", func(c *Config) { c.Version = "" }, "Version must have 1 to 64"},
		{"long version", func(c *Config) { c.Version = strings.Repeat("v", 65) }, "Version must have 1 to 64"},
		{"no rate", func(c *Config) { c.Rate = 0 }, "Rate must be above zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("a notice without an absolute document link", func(t *testing.T) {
		c := base()
		c.DocumentURL = "/privacy"
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), "DocumentURL") {
			t.Fatalf("New = %v, want an error about DocumentURL", err)
		}
	})
}
