package policynotify

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Progress counts a version's notices. It holds no personal data.
type Progress struct {
	// Recipients is how many users the version is for: every user in the
	// ledger plus every user, not deleted, still to notify.
	Recipients int64
	// Sent is how many messages the SMTP server accepted.
	Sent int64
	// Failed is how many users were not mailed: the server refused their
	// message, or their address could not be read. They are not mailed
	// again for the version.
	Failed int64
	// UnknownOutcome is how many users may or may not have been mailed
	// (ErrorCodeUnknownOutcome); they are not mailed again either. They are
	// not counted in Sent or Failed: a status that reports "failed" should
	// add them, since nobody can claim they were notified.
	UnknownOutcome int64
	// Accepted is how many users, not deleted, have accepted the version
	// (users.policy_version_accepted), whether or not re-acceptance is
	// required.
	Accepted int64
}

// Counts reads the progress of the version from the ledger and the users
// table. Recipients = Sent + Failed + UnknownOutcome + the users still to
// notify, who include those claimed by a run under way.
func (n *Notifier) Counts(ctx context.Context) (Progress, error) {
	c, err := n.ledger.counts(ctx)
	if err != nil {
		return Progress{}, err
	}
	pending, err := n.users.pending(ctx)
	if err != nil {
		return Progress{}, err
	}
	accepted, err := n.users.accepted(ctx)
	if err != nil {
		return Progress{}, err
	}
	return Progress{
		Recipients:     c.sent + c.failed + c.intent + pending,
		Sent:           c.sent,
		Failed:         c.failed - c.unknown,
		UnknownOutcome: c.unknown,
		Accepted:       accepted,
	}, nil
}

// tally is a run's progress, counted in memory from the ledger's counts at
// the start, so that reports need no ledger query.
type tally struct {
	recipients                      int64 // fixed at the start
	sent, failed, unknown, accepted atomic.Int64
}

func newTally(p Progress) *tally {
	t := &tally{recipients: p.Recipients}
	t.sent.Store(p.Sent)
	t.failed.Store(p.Failed)
	t.unknown.Store(p.UnknownOutcome)
	t.accepted.Store(p.Accepted)
	return t
}

func (t *tally) snapshot() Progress {
	p := Progress{
		Recipients:     t.recipients,
		Sent:           t.sent.Load(),
		Failed:         t.failed.Load(),
		UnknownOutcome: t.unknown.Load(),
		Accepted:       t.accepted.Load(),
	}
	// Users who signed up during the run are mailed too.
	p.Recipients = max(p.Recipients, p.Sent+p.Failed+p.UnknownOutcome)
	return p
}

// reportProgress calls OnProgress every ProgressInterval until stop is
// called; stop waits for a call under way to return.
func (n *Notifier) reportProgress(ctx context.Context, t *tally) (stop func()) {
	if n.cfg.OnProgress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(n.cfg.ProgressInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if a, err := n.users.accepted(ctx); err == nil {
				t.accepted.Store(a)
			}
			select {
			case <-done:
				return
			default:
				n.cfg.OnProgress(t.snapshot())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
