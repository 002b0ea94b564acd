package policynotify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

func TestRunRetriesTemporaryFailures(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		ids := f.addUsers(5, user{})
		f.smtp.FailMessages(3, 451) // the first user's first three attempts
		cfg := f.config("v1")
		cfg.Concurrency = 1
		var attempts int
		inner := f.mailer
		cfg.Mailer = senderFunc(func(ctx context.Context, msg mail.Message) error {
			attempts++
			return inner.Send(ctx, msg)
		})
		p, err := f.notifier(cfg).Run(context.Background())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if want := (Progress{Recipients: 5, Sent: 5}); p != want {
			t.Errorf("Run = %+v, want %+v", p, want)
		}
		if attempts != 8 {
			t.Errorf("%d attempts, want 8 (three 451 replies, then five deliveries)", attempts)
		}
		f.wantEachOnce(ids)

		t.Run("until the attempts run out", func(t *testing.T) {
			f.smtp.FailMessages(3, 451)
			cfg := f.config("v2")
			cfg.Concurrency, cfg.MaxAttempts = 1, 3
			p, err := f.notifier(cfg).Run(context.Background())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if want := (Progress{Recipients: 5, Sent: 4, Failed: 1}); p != want {
				t.Errorf("Run = %+v, want %+v", p, want)
			}
			if r := f.ledger("v2")[ids[0]]; r.state != stateFailed || r.code != "451 4.3.0" {
				t.Errorf("ledger row of the user who got three 451 replies = %+v, want failed 451 4.3.0", r)
			}
		})
	})
}

func TestRunCountsARefusedAddressFailed(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		ids := f.addUsers(6, user{})
		gone, busy := ids[1], ids[4]
		f.smtp.RejectRecipient(address(gone), 550)
		f.smtp.RejectRecipient(address(busy), 450)
		cfg := f.config("v1")
		cfg.MaxAttempts = 3

		p, err := f.notifier(cfg).Run(context.Background())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if want := (Progress{Recipients: 6, Sent: 4, Failed: 2}); p != want {
			t.Errorf("Run = %+v, want %+v", p, want)
		}
		f.wantEachOnce([]int64{ids[0], ids[2], ids[3], ids[5]})
		rows := f.ledger("v1")
		if r := rows[gone]; r.state != stateFailed || r.code != "550 5.1.1" {
			t.Errorf("ledger row of the refused address = %+v, want failed 550 5.1.1", r)
		}
		if r := rows[busy]; r.state != stateFailed || r.code != "450 4.1.1" {
			t.Errorf("ledger row of the address refused for now = %+v, want failed 450 4.1.1 after 3 attempts", r)
		}
		logs := f.logs.String()
		wantNoAddresses(t, "the log", logs)
		if !strings.Contains(logs, "code=\"550 5.1.1\"") {
			t.Errorf("the log does not report the refusal's code:\n%s", logs)
		}
	})
}

func TestRunStopsWhenTheServerFails(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		ids := f.addUsers(5, user{})
		cfg := f.config("v1")
		cfg.Mailer = f.newMailer("wrong-password")
		p, err := f.notifier(cfg).Run(context.Background())
		var me *mail.Error
		if !errors.As(err, &me) || me.Code != 535 {
			t.Fatalf("Run = %v, want the server's 535", err)
		}
		wantNoAddresses(t, "the error", err.Error())
		if want := (Progress{Recipients: 5}); p != want {
			t.Errorf("Run = %+v, want %+v: nobody may be marked failed for the server's fault", p, want)
		}
		if rows := f.ledger("v1"); len(rows) != 0 {
			t.Errorf("the ledger kept %d rows, want the claims withdrawn", len(rows))
		}

		p, err = f.notifier(f.config("v1")).Run(context.Background())
		if err != nil {
			t.Fatalf("Run with the right password: %v", err)
		}
		if want := (Progress{Recipients: 5, Sent: 5}); p != want {
			t.Errorf("Run with the right password = %+v, want %+v", p, want)
		}
		f.wantEachOnce(ids)
	})
}

func TestRunStopsWhenEveryMessageIsRefused(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		ids := f.addUsers(10, user{})
		f.smtp.FailMessages(100, 554) // 554 5.3.0: the relay refuses the message itself
		cfg := f.config("v1")
		cfg.Concurrency, cfg.MaxConsecutiveFailures = 1, 3
		p, err := f.notifier(cfg).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "3 users in a row") {
			t.Fatalf("Run = %v, want a stop after 3 refusals in a row", err)
		}
		if want := (Progress{Recipients: 10}); p != want {
			t.Errorf("Run = %+v, want %+v: users refused for the server's fault must not stay failed", p, want)
		}
		if rows := f.ledger("v1"); len(rows) != 0 {
			t.Errorf("the ledger kept %d rows, want the streak withdrawn", len(rows))
		}

		f.smtp.FailMessages(0, 0)
		p, err = f.notifier(f.config("v1")).Run(context.Background())
		if err != nil || p.Sent != 10 {
			t.Fatalf("Run once the relay accepts = %+v, %v; want 10 sent", p, err)
		}
		f.wantEachOnce(ids)
	})
}

func TestRefusedRecipientsInARowDoNotStopTheRun(t *testing.T) {
	f := newFixture(t, "postgres")
	ids := f.addUsers(6, user{})
	for _, id := range ids[:4] {
		f.smtp.RejectRecipient(address(id), 550) // 550 5.1.1: no such mailbox
	}
	cfg := f.config("v1")
	cfg.Concurrency, cfg.MaxConsecutiveFailures = 1, 3
	p, err := f.notifier(cfg).Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := (Progress{Recipients: 6, Sent: 2, Failed: 4}); p != want {
		t.Errorf("Run = %+v, want %+v", p, want)
	}
}

func TestRunStopsOnTheWrongKeyring(t *testing.T) {
	t.Run("a keyring without the key", func(t *testing.T) {
		f := newFixture(t, "postgres")
		if err := f.keyring.Rotate(time.Now()); err != nil {
			t.Fatal(err)
		}
		f.addUsers(3, user{}) // sealed with k2
		data, err := f.keyring.MarshalSecretData()
		if err != nil {
			t.Fatal(err)
		}
		delete(data, "key-k2")
		data["active"] = []byte("k1")
		partial, err := crypto.KeyringFromSecretData(data)
		if err != nil {
			t.Fatal(err)
		}
		cfg := f.config("v1")
		cfg.Keyring = partial
		p, err := f.notifier(cfg).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "keyring lacks the key") {
			t.Fatalf("Run = %v, want a stop naming the keyring", err)
		}
		if want := (Progress{Recipients: 3}); p != want || len(f.ledger("v1")) != 0 {
			t.Errorf("Run = %+v with %d ledger rows, want %+v and none", p, len(f.ledger("v1")), want)
		}
	})

	t.Run("another tenant's keyring", func(t *testing.T) {
		f := newFixture(t, "postgres")
		f.addUsers(6, user{})
		other, err := crypto.NewKeyring(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cfg := f.config("v1")
		cfg.Keyring, cfg.Concurrency, cfg.MaxConsecutiveFailures = other, 1, 3
		p, err := f.notifier(cfg).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "3 users in a row") {
			t.Fatalf("Run = %v, want a stop after 3 undecryptable addresses in a row", err)
		}
		if want := (Progress{Recipients: 6}); p != want || len(f.smtp.Messages()) != 0 {
			t.Errorf("Run = %+v with %d messages, want %+v and none", p, len(f.smtp.Messages()), want)
		}
	})
}
