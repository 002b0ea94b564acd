package policynotify

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

func TestRunResumesAfterCancel(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		ids := f.addUsers(40, user{})

		// The worker is told to stop (SIGTERM) after the tenth delivery,
		// while other sends are under way.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var delivered atomic.Int64
		cfg := f.config("v1")
		cfg.Concurrency = 4
		cfg.Mailer = senderFunc(func(sctx context.Context, msg mail.Message) error {
			err := f.mailer.Send(sctx, msg)
			if err == nil && delivered.Add(1) == 10 {
				cancel()
			}
			return err
		})
		p, err := f.notifier(cfg).Run(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		first := len(f.smtp.Messages())
		if first < 10 || first > 10+cfg.Concurrency {
			t.Fatalf("%d messages before the stop, want 10 to %d", first, 10+cfg.Concurrency)
		}
		if p.Sent != int64(first) || p.Failed != 0 || p.Recipients != 40 {
			t.Errorf("progress at the stop = %+v, want %d sent of 40, none failed", p, first)
		}
		for id, r := range f.ledger("v1") {
			if r.state != stateSent {
				t.Errorf("after a graceful stop user %d is %+v in the ledger, want only sent rows", id, r)
			}
		}

		// A fresh worker finishes the job.
		p, err = f.notifier(f.config("v1")).Run(context.Background())
		if err != nil {
			t.Fatalf("resumed Run: %v", err)
		}
		if want := (Progress{Recipients: 40, Sent: 40}); p != want {
			t.Errorf("resumed Run = %+v, want %+v", p, want)
		}
		f.wantEachOnce(ids)
	})
}

func TestRunNeverResendsAnAbandonedClaim(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		ids := f.addUsers(5, user{})
		// A worker was killed between claiming user 3 and recording the
		// outcome: the message may have gone out.
		if _, err := f.db.Exec(rebind(f.engine, `INSERT INTO policy_notifications (version, user_id, state, attempted_at) VALUES (?, ?, 'intent', ?)`),
			"v1", ids[2], time.Now().UTC().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		n := f.notifier(f.config("v1"))
		before, err := n.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := (Progress{Recipients: 5}); before != want {
			t.Errorf("Counts with a claim under way = %+v, want %+v", before, want)
		}

		p, err := n.Run(context.Background())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if want := (Progress{Recipients: 5, Sent: 4, UnknownOutcome: 1}); p != want {
			t.Errorf("Run = %+v, want %+v", p, want)
		}
		if got := f.received()[address(ids[2])]; got != 0 {
			t.Errorf("the user with the abandoned claim was mailed %d times, want 0", got)
		}
		if r := f.ledger("v1")[ids[2]]; r.state != stateFailed || r.code != ErrorCodeUnknownOutcome {
			t.Errorf("ledger row = %+v, want failed %s", r, ErrorCodeUnknownOutcome)
		}
		f.wantEachOnce([]int64{ids[0], ids[1], ids[3], ids[4]})
	})
}

func TestConcurrentRunsNeverSendTwice(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		ids := f.addUsers(60, user{})
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			n := f.notifier(f.config("v1"))
			wg.Go(func() { _, errs[i] = n.Run(context.Background()) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("Run: %v", err)
		}
		f.wantEachOnce(ids)
		p, err := f.notifier(f.config("v1")).Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := (Progress{Recipients: 60, Sent: 60}); p != want {
			t.Errorf("Counts = %+v, want %+v: a concurrent run's outcome must win over the other's sweep", p, want)
		}
	})
}

func TestCancelLetsTheSendUnderWayFinish(t *testing.T) {
	f := newFixture(t, "postgres")
	ids := f.addUsers(3, user{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := f.config("v1")
	cfg.Concurrency = 1
	var calls atomic.Int64
	cfg.Mailer = senderFunc(func(sctx context.Context, msg mail.Message) error {
		if calls.Add(1) == 1 {
			cancel() // SIGTERM arrives while the first message is under way
			time.Sleep(20 * time.Millisecond)
		}
		return f.mailer.Send(sctx, msg)
	})
	if _, err := f.notifier(cfg).Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d sends started, want 1: a stopping run takes no new users", calls.Load())
	}
	if r := f.ledger("v1")[ids[0]]; r.state != stateSent {
		t.Fatalf("ledger row of the user under way = %+v, want sent: the send must finish after the cancel", r)
	}
	f.wantEachOnce(ids[:1])
}

func TestDrainTimeoutCutsAHungSendOff(t *testing.T) {
	f := newFixture(t, "postgres")
	ids := f.addUsers(2, user{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := f.config("v1")
	cfg.Concurrency, cfg.DrainTimeout = 1, 100*time.Millisecond
	cfg.Mailer = senderFunc(func(sctx context.Context, msg mail.Message) error {
		cancel()
		<-sctx.Done() // the server never answers after the message data
		return &mail.Error{Stage: mail.StageData}
	})
	start := time.Now()
	p, err := f.notifier(cfg).Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Run took %s to stop, want about the drain timeout", d)
	}
	if r := f.ledger("v1")[ids[0]]; r.state != stateFailed || r.code != ErrorCodeUnknownOutcome {
		t.Fatalf("ledger row = %+v, want failed %s", r, ErrorCodeUnknownOutcome)
	}
	if want := (Progress{Recipients: 2, UnknownOutcome: 1}); p != want {
		t.Errorf("Run = %+v, want %+v", p, want)
	}
}
