package policynotify

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestAcceptedReflectsTheUsersTable(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		f.addUsers(3, user{accepted: "v2"})
		f.addUsers(2, user{accepted: "v1"})
		f.addUsers(1, user{accepted: "v2", deleted: true})
		later := f.addUsers(4, user{})

		n := f.notifier(f.config("v2"))
		p, err := n.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := (Progress{Recipients: 9, Accepted: 3}); p != want {
			t.Errorf("Counts = %+v, want %+v", p, want)
		}

		if _, err := f.db.Exec(rebind(f.engine, "UPDATE users SET policy_version_accepted = ?, policy_accepted_at = ? WHERE id IN (?, ?)"),
			"v2", time.Now().UTC(), later[0], later[1]); err != nil {
			t.Fatal(err)
		}
		p, err = n.Run(context.Background())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if want := (Progress{Recipients: 9, Sent: 9, Accepted: 5}); p != want {
			t.Errorf("Run = %+v, want %+v", p, want)
		}
	})
}

func TestRunKeepsTheRateAndThrottlesProgress(t *testing.T) {
	f := newFixture(t, "postgres")
	f.addUsers(40, user{})
	const perSecond = 40.0
	cfg := f.config("v1")
	cfg.Rate = perSecond
	cfg.ProgressInterval = 200 * time.Millisecond
	var (
		mu      sync.Mutex
		reports []Progress
		times   []time.Time
		ended   bool
		late    bool
	)
	cfg.OnProgress = func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		late = late || ended
		reports = append(reports, p)
		times = append(times, time.Now())
	}
	p, err := f.notifier(cfg).Run(context.Background())
	mu.Lock()
	ended = true
	mu.Unlock()
	if err != nil || p.Sent != 40 {
		t.Fatalf("Run = %+v, %v; want 40 sent", p, err)
	}

	// The limiter spaces the sends exactly; the server records each message
	// a few milliseconds after its send began, so allow that much jitter.
	msgs := f.smtp.Messages()
	span := msgs[len(msgs)-1].ReceivedAt.Sub(msgs[0].ReceivedAt)
	ideal := time.Duration(float64(len(msgs)-1) / perSecond * float64(time.Second))
	if span < ideal-50*time.Millisecond || span > ideal*5/4+500*time.Millisecond {
		t.Errorf("%d messages took %s, want about %s at %.0f messages/s", len(msgs), span, ideal, perSecond)
	}

	time.Sleep(2 * cfg.ProgressInterval)
	mu.Lock()
	defer mu.Unlock()
	if late {
		t.Error("OnProgress was called after Run returned")
	}
	if len(reports) < 2 {
		t.Fatalf("%d progress reports in about a second, want several", len(reports))
	}
	for i := 1; i < len(reports); i++ {
		if gap := times[i].Sub(times[i-1]); gap < cfg.ProgressInterval*9/10 {
			t.Errorf("reports %d and %d came %s apart, want at least %s", i-1, i, gap, cfg.ProgressInterval)
		}
		if reports[i].Sent < reports[i-1].Sent {
			t.Errorf("Sent went down from %d to %d", reports[i-1].Sent, reports[i].Sent)
		}
		if reports[i].Recipients != 40 {
			t.Errorf("report %d has %d recipients, want 40", i, reports[i].Recipients)
		}
	}
}
