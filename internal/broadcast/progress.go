package broadcast

import (
	"sync"
	"time"
)

// Progress is a broadcast's state for the Broadcast status. It holds counts
// and Graph error codes only, never a PSID, a name or a token.
type Progress struct {
	// Audience is the number of leads frozen into the broadcast.
	Audience int64
	// Sent counts delivered messages.
	Sent int64
	// Failed counts deliveries that ended in failure, including
	// UnknownOutcome.
	Failed int64
	// UnknownOutcome counts failures whose message may have been delivered
	// (see ErrorCodeUnknownOutcome); they are never sent again.
	UnknownOutcome int64
	// SkippedUnsubscribed, SkippedOutsideWindow and SkippedUnreachable
	// count leads skipped for those reasons; SkippedOther counts skips with
	// a reason this version does not know.
	SkippedUnsubscribed  int64
	SkippedOutsideWindow int64
	SkippedUnreachable   int64
	SkippedOther         int64
	// Pending counts deliveries not final yet. Zero once the broadcast is
	// complete.
	Pending int64
	// Rate is the observed send rate in messages per second: over the last
	// interval in OnProgress, over the run's sending time in Run's result.
	// Zero outside a run.
	Rate float64
	// LastError is the last failure of this run; zero when there was none.
	LastError DeliveryError
}

// Done reports whether every delivery of the audience is final.
func (p Progress) Done() bool { return p.Pending == 0 }

// DeliveryError describes a failed delivery without personal data.
type DeliveryError struct {
	// Code is the ledger's error code: Graph's code ("613"), with its
	// subcode ("10/2018278"), "http_<status>", or one of the ErrorCode
	// constants.
	Code string
	// GraphCode and GraphSubcode are Graph's numbers, or 0.
	GraphCode, GraphSubcode int
	// Text is Graph's message or a description, with the token and the
	// PSID removed by the messenger client.
	Text string
}

// IsZero reports whether e describes no error.
func (e DeliveryError) IsZero() bool { return e == DeliveryError{} }

// progressTracker keeps a run's progress as outcomes are recorded.
type progressTracker struct {
	mu  sync.Mutex
	now func() time.Time
	p   Progress

	// This run's sends that got an answer, for the failure ratio.
	runAttempted, runFailed int64
	runSent                 int64
	firstSendAt             time.Time
	lastTickAt              time.Time
	lastTickSent            int64
}

func newProgressTracker(base Progress, now func() time.Time) *progressTracker {
	base.Rate = 0
	base.LastError = DeliveryError{}
	return &progressTracker{p: base, now: now, lastTickAt: now()}
}

// finished moves n deliveries from pending to a final state.
func (t *progressTracker) finished(n int64, apply func(p *Progress)) {
	if n == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.Pending -= n
	apply(&t.p)
}

// claimed notes that sending has started.
func (t *progressTracker) claimed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.firstSendAt.IsZero() {
		t.firstSendAt = t.now()
	}
}

// sendAnswered records the answer to one send: sent, or failed with e.
// Sends that ended in a skip (outside window, unreachable) pass failed
// false and a zero e.
func (t *progressTracker) sendAnswered(sent, failed bool, e DeliveryError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.runAttempted++
	if sent {
		t.runSent++
	}
	if failed {
		t.runFailed++
		t.p.LastError = e
	}
}

// setLastError records a failure that ended the run.
func (t *progressTracker) setLastError(e DeliveryError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.LastError = e
}

// failureRatio returns this run's failed and answered sends.
func (t *progressTracker) failureRatio() (failed, attempted int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.runFailed, t.runAttempted
}

// tick returns the progress with the rate since the previous tick.
func (t *progressTracker) tick() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	p := t.p
	if d := now.Sub(t.lastTickAt).Seconds(); d > 0 {
		p.Rate = float64(t.runSent-t.lastTickSent) / d
	}
	t.lastTickAt, t.lastTickSent = now, t.runSent
	return p
}

// final returns the ledger's counts with this run's rate and last error.
func (t *progressTracker) final(ledger Progress, ledgerOK bool) Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.p
	if ledgerOK {
		ledger.LastError = p.LastError
		p = ledger
	}
	p.Rate = 0
	if !t.firstSendAt.IsZero() {
		if d := t.now().Sub(t.firstSendAt).Seconds(); d > 0 {
			p.Rate = float64(t.runSent) / d
		}
	}
	return p
}

// reportProgress calls OnProgress every ProgressInterval until the
// returned function is called; that function returns once no call is
// under way.
func (x *run) reportProgress() func() {
	if x.cfg.OnProgress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(x.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				x.cfg.OnProgress(x.tracker.tick())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
