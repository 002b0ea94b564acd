package broadcast

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

// assertAtMostOnce fails when any lead got more than one message, and
// returns how many leads got one.
func assertAtMostOnce(t *testing.T, fx *fixture, leads []insertedLead) int {
	t.Helper()
	got := 0
	for _, l := range leads {
		switch n := fx.emu.CountFor(l.psid); n {
		case 0:
		case 1:
			got++
		default:
			t.Fatalf("lead %d got %d messages", l.id, n)
		}
	}
	return got
}

func TestACancelledRunResumesWithoutDuplicatesOrGaps(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		leads := fx.addPlainLeads(t, 300)
		cfg := fx.config(t, "resumable")
		cfg.Sender = fastSender(t, fx.client, messenger.SenderConfig{MessagesPerSecond: 200})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			eventually(t, 10e9, "the first deliveries", func() bool { return fx.emu.Answered(0) >= 60 })
			cancel()
		}()
		p, err := mustNew(t, cfg).Run(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run after cancel = %v, want context.Canceled", err)
		}
		sentBefore := assertAtMostOnce(t, fx, leads)
		if p.Sent != int64(sentBefore) || p.Pending != int64(300-sentBefore) || p.Failed != 0 {
			t.Fatalf("progress after the pause = %+v; the emulator delivered %d", p, sentBefore)
		}
		if sentBefore >= 300 {
			t.Fatal("the run was not cancelled mid-way")
		}
		// A clean pause leaves no claim behind: everything sent is recorded.
		for id, row := range fx.ledger(t, "resumable") {
			if row.state == stateIntent && row.errorCode != "" {
				t.Fatalf("lead %d left claimed (%+v) by a clean pause", id, row)
			}
		}

		// Leads created while paused do not join; a fresh engine finishes.
		late := fx.addPlainLeads(t, 5)
		p, err = mustNew(t, fx.config(t, "resumable")).Run(context.Background())
		if err != nil {
			t.Fatalf("resumed Run: %v", err)
		}
		if p.Audience != 300 || p.Sent != 300 || p.Pending != 0 {
			t.Fatalf("progress after resuming = %+v, want all 300 sent", p)
		}
		for _, l := range leads {
			if n := fx.emu.CountFor(l.psid); n != 1 {
				t.Fatalf("lead %d got %d messages, want exactly 1", l.id, n)
			}
		}
		if assertAtMostOnce(t, fx, late) != 0 {
			t.Fatal("a lead created after the freeze was messaged")
		}
	})
}

func TestACrashBetweenSendAndLedgerIsNeverResent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		leads := fx.addPlainLeads(t, 120)
		r := mustNew(t, fx.config(t, "crashy"))
		var (
			sends   atomic.Int64
			crashed atomic.Int64
		)
		r.hooks.afterSend = func(id int64, sent bool) bool {
			if sent && sends.Add(1) == 30 {
				crashed.Store(id)
				return true
			}
			return false
		}
		if _, err := r.Run(context.Background()); !errors.Is(err, errSimulatedCrash) {
			t.Fatalf("Run = %v, want the simulated crash", err)
		}
		victim := crashed.Load()
		if row := fx.ledger(t, "crashy")[victim]; row.state != stateIntent || row.errorCode != ErrorCodeUnknownOutcome {
			t.Fatalf("after the crash the victim's row is %+v, want a claim (intent, unknown_outcome)", row)
		}

		// A fresh engine: the claims left behind become unknown outcomes,
		// are never resent, and everyone else gets exactly one message.
		r2 := mustNew(t, fx.config(t, "crashy"))
		p, err := r2.Run(context.Background())
		if err != nil {
			t.Fatalf("Run after the crash: %v", err)
		}
		ledger := fx.ledger(t, "crashy")
		if len(ledger) != 120 || p.Audience != 120 || p.Pending != 0 {
			t.Fatalf("progress = %+v with %d ledger rows; want every audience row final", p, len(ledger))
		}
		if p.UnknownOutcome == 0 || p.UnknownOutcome != p.Failed || p.Sent+p.Failed != 120 {
			t.Fatalf("progress = %+v; want the crashed claims failed as unknown outcomes and the rest sent", p)
		}
		for _, l := range leads {
			row, n := ledger[l.id], fx.emu.CountFor(l.psid)
			switch {
			case n > 1:
				t.Fatalf("lead %d got %d messages", l.id, n)
			case row.state == stateSent && n != 1:
				t.Fatalf("lead %d recorded sent but got %d messages", l.id, n)
			case row.state == stateFailed && row.errorCode != ErrorCodeUnknownOutcome:
				t.Fatalf("lead %d failed with %q", l.id, row.errorCode)
			case row.state != stateSent && row.state != stateFailed:
				t.Fatalf("lead %d ended %+v", l.id, row)
			}
		}
		if row := ledger[victim]; row.state != stateFailed || fx.emu.CountFor(leadPSID(leads, victim)) != 1 {
			t.Fatalf("the victim ended %+v with %d messages; want failed unknown_outcome and its one message", row, fx.emu.CountFor(leadPSID(leads, victim)))
		}

		// Retrying failures does not touch unknown outcomes.
		n, err := r2.RetryFailed(context.Background())
		if err != nil || n != 0 {
			t.Fatalf("RetryFailed = %d, %v; want 0: unknown outcomes are never retried", n, err)
		}
	})
}

func leadPSID(leads []insertedLead, id int64) string {
	for _, l := range leads {
		if l.id == id {
			return l.psid
		}
	}
	return ""
}

func TestTwoRunsOfOneBroadcastExcludeEachOther(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.addPlainLeads(t, 3)
		lock, err := lockRun(context.Background(), fx.db, fx.engine, "exclusive")
		if err != nil {
			t.Fatal(err)
		}
		_, err = mustNew(t, fx.config(t, "exclusive")).Run(context.Background())
		if ClassOf(err) != Busy {
			t.Fatalf("Run while another holds the lock = %v, want Busy", err)
		}
		if _, err := mustNew(t, fx.config(t, "exclusive")).RetryFailed(context.Background()); ClassOf(err) != Busy {
			t.Fatalf("RetryFailed while another holds the lock = %v, want Busy", err)
		}
		if len(fx.emu.Deliveries()) != 0 || len(fx.ledger(t, "exclusive")) != 0 {
			t.Fatal("a run that did not get the lock touched something")
		}
		lock.unlock()
		if p, err := mustNew(t, fx.config(t, "exclusive")).Run(context.Background()); err != nil || p.Sent != 3 {
			t.Fatalf("Run after the lock was released = %+v, %v", p, err)
		}
	})
}
