package broadcast

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

func TestARateLimitStormSlowsDownAndLosesNobody(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		leads := fx.addPlainLeads(t, 150)
		fx.emu.InjectRateLimit(120)
		cfg := fx.config(t, "storm")
		sender := fastSender(t, fx.client, messenger.SenderConfig{MaxAttempts: 30, MinMessagesPerSecond: 50})
		cfg.Sender = sender
		p, err := mustNew(t, cfg).Run(context.Background())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if p.Sent != 150 || p.Failed != 0 || p.Pending != 0 {
			t.Fatalf("progress = %+v, want all 150 sent", p)
		}
		for _, l := range leads {
			if n := fx.emu.CountFor(l.psid); n != 1 {
				t.Fatalf("lead %d got %d messages, want 1", l.id, n)
			}
		}
		if n := fx.emu.Answered(613); n != 120 {
			t.Fatalf("the emulator answered 613 %d times, want the 120 injected", n)
		}
		if st := sender.Stats(); st.LowestRate >= 300 {
			t.Fatalf("the sender never slowed down: %+v", st)
		}
	})
}

func TestAnInvalidTokenStopsTheRunBeforeMoreSends(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		leads := fx.addPlainLeads(t, 60)
		cfg := fx.config(t, "bad-token")
		workers := 4
		cfg.Sender = fastSender(t, newClient(t, fx.emu, "EAAGrevoked"), messenger.SenderConfig{Workers: workers})
		p, err := mustNew(t, cfg).Run(context.Background())
		if ClassOf(err) != InvalidToken {
			t.Fatalf("Run = %v, want an InvalidToken error", err)
		}
		var se *messenger.SendError
		if !errors.As(err, &se) || se.Code != 190 {
			t.Fatalf("the error does not wrap Graph's code 190: %v", err)
		}
		if n := fx.emu.Answered(0); n != 0 {
			t.Fatalf("%d messages were delivered", n)
		}
		if n := fx.emu.Answered(190); n < 1 || n > workers*2 {
			t.Fatalf("Graph answered 190 %d times; the run should stop after the first answers", n)
		}
		if p.Pending != 60 || p.Failed != 0 || p.LastError.GraphCode != 190 {
			t.Fatalf("progress = %+v, want everyone still pending and lastError 190", p)
		}
		assertNoPersonalData(t, "the error", err.Error(), leads)
		assertNoPersonalData(t, "the progress", fmt.Sprintf("%+v", p), leads)

		// With the token replaced, the broadcast completes.
		p, err = mustNew(t, fx.config(t, "bad-token")).Run(context.Background())
		if err != nil || p.Sent != 60 {
			t.Fatalf("Run with a good token = %+v, %v", p, err)
		}
		assertAtMostOnce(t, fx, leads)
	})
}

func TestTooManyFailuresPauseTheRun(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.addPlainLeads(t, 200)
		emu := startEmulator(t, messenger.EmulatorConfig{FailEvery: 2})
		cfg := fx.config(t, "flaky")
		cfg.Sender = fastSender(t, newClient(t, emu, testToken), messenger.SenderConfig{MaxAttempts: 1, Workers: 2})
		cfg.MaxFailureRatio = 0.2
		p, err := mustNew(t, cfg).Run(context.Background())
		var e *Error
		if ClassOf(err) != Paused || !errors.As(err, &e) || e.Reason != ReasonFailureRatioExceeded {
			t.Fatalf("Run = %v, want a Paused error", err)
		}
		if p.Sent+p.Failed < MinAttemptsForAutoPause || p.Pending == 0 || p.LastError.Code != "http_500" && p.LastError.Code != "2" {
			t.Fatalf("progress = %+v; want at least %d attempts, the rest pending, lastError code 2", p, MinAttemptsForAutoPause)
		}
		if p.Sent != int64(emu.Answered(0)) {
			t.Fatalf("ledger says %d sent, the emulator delivered %d", p.Sent, emu.Answered(0))
		}

		// Retry on request: failed deliveries go back to pending and a run
		// without auto-pause completes them.
		r := mustNew(t, fx.config(t, "flaky"))
		n, err := r.RetryFailed(context.Background())
		if err != nil || n != p.Failed {
			t.Fatalf("RetryFailed = %d, %v; want %d", n, err, p.Failed)
		}
		p, err = r.Run(context.Background())
		if err != nil || p.Sent != 200 || p.Failed != 0 || emu.Answered(0)+fx.emu.Answered(0) != 200 {
			t.Fatalf("after retrying: %+v, %v (%d delivered by the flaky emulator)", p, err, emu.Answered(0))
		}
	})
}
