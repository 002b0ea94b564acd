package broadcast

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

// Run freezes the audience on the first run, then sends to every pending
// delivery and records each outcome, and returns the progress read back
// from the ledger.
//
// Run returns nil when every delivery is final (Progress.Done). It stops
// early, with every send it started recorded and every delivery it did not
// send still pending, when:
//   - ctx is cancelled (the Broadcast was suspended or the worker got
//     SIGTERM): the error is ctx's;
//   - Graph refuses the access token: an InvalidToken *Error;
//   - more than MaxFailureRatio of the run's sends failed: a Paused *Error;
//   - the ledger cannot be read or written: a plain error, after which the
//     worker should exit and be restarted.
//
// A second Run of the same broadcast, in this process or another, gets a
// Busy *Error while this one holds the run lock. See the package
// documentation for the exactly-once guarantee.
func (r *Runner) Run(ctx context.Context) (Progress, error) {
	if !r.running.CompareAndSwap(false, true) {
		return Progress{}, &Error{Class: Busy, Reason: ReasonAlreadyRunning, Message: "this Runner is already running"}
	}
	defer r.running.Store(false)
	log := r.cfg.Logger.With("broadcast", r.cfg.Broadcast)

	lock, err := lockRun(ctx, r.cfg.DB, r.cfg.Engine, r.cfg.Broadcast)
	if err != nil {
		return Progress{}, err
	}
	defer lock.unlock()

	if n, err := r.ledger.recoverAbandoned(ctx, r.cfg.Now()); err != nil {
		return Progress{}, err
	} else if n > 0 {
		log.WarnContext(ctx, "deliveries claimed by a worker that stopped without recording them are failed with an unknown outcome and will not be sent again",
			"deliveries", n, "errorCode", ErrorCodeUnknownOutcome)
	}
	frozen, err := r.ledger.frozen(ctx)
	if err != nil {
		return Progress{}, err
	}
	if !frozen {
		n, err := r.ledger.freeze(ctx, r.filter, r.cfg.FreezeBatch, r.cfg.Now())
		if err != nil {
			return Progress{}, err
		}
		log.InfoContext(ctx, "audience frozen", "audience", n)
		if err := r.ledger.analyze(ctx); err != nil {
			log.InfoContext(ctx, "could not refresh the ledger's statistics; the database will in a while", "error", err)
		}
	}
	if r.hooks.afterFreeze != nil {
		r.hooks.afterFreeze()
	}
	base, err := r.ledger.counts(ctx)
	if err != nil {
		return Progress{}, err
	}
	tracker := newProgressTracker(base, r.cfg.Now)
	if r.cfg.OnProgress != nil {
		r.cfg.OnProgress(tracker.tick())
	}
	if base.Pending == 0 {
		return tracker.final(base, true), nil
	}

	run := &run{Runner: r, tracker: tracker, log: log}
	runErr := run.execute(ctx)

	// The ledger is the truth; read it even when ctx is cancelled.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.LedgerTimeout)
	defer cancel()
	final, cerr := r.ledger.counts(cctx)
	p := tracker.final(final, cerr == nil)
	switch {
	case runErr == nil && cerr != nil:
		runErr = cerr
	case runErr == nil && p.Pending > 0:
		// Not expected: a complete pass leaves nothing pending. Say so
		// rather than report success; the next run picks them up.
		runErr = fmt.Errorf("broadcast: %d deliveries are still pending after a complete pass; run the broadcast again", p.Pending)
	}
	log.InfoContext(ctx, "broadcast run ended", "sent", p.Sent, "failed", p.Failed, "pending", p.Pending,
		"skippedUnsubscribed", p.SkippedUnsubscribed, "skippedOutsideWindow", p.SkippedOutsideWindow,
		"skippedUnreachable", p.SkippedUnreachable, "rate", p.Rate, "error", runErr)
	return p, runErr
}

// outcomeQueue is how many send outcomes may wait for the ledger writers
// before the Sender's workers wait too.
const outcomeQueue = 64

// run is the state of one Run while it sends.
type run struct {
	*Runner
	tracker *progressTracker
	log     *slog.Logger

	cancel   context.CancelCauseFunc
	crashed  atomic.Bool
	outcomes chan sendOutcome
	// ledgerBroken is set after a ledger write failed: the run stops and
	// writes nothing more, and its open claims become unknown outcomes in
	// the next run, as after a crash.
	ledgerBroken atomic.Bool

	mu   sync.Mutex
	stop error // why the run stopped early, the first reason wins
}

// halt stops the run for err unless it is stopping already.
func (x *run) halt(err error) {
	x.mu.Lock()
	if x.stop == nil {
		x.stop = err
	}
	x.mu.Unlock()
	x.cancel(err)
}

func (x *run) stopReason() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.stop
}

// execute streams the pending deliveries through the Sender and returns
// why it stopped, or nil when the audience is exhausted.
func (x *run) execute(ctx context.Context) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	x.cancel = cancel
	defer cancel(nil)

	stopProgress := x.reportProgress()
	defer stopProgress()

	// A small buffer lets the producer claim the next batch while the
	// Sender works; whatever is left in it when the run stops goes back to
	// pending below.
	jobs := make(chan messenger.Job, x.cfg.ClaimBatch)
	senderDone := make(chan struct{})
	var producer, writers sync.WaitGroup
	producer.Go(func() {
		defer close(jobs)
		if err := x.produce(runCtx, jobs, senderDone); err != nil {
			x.halt(err)
		}
	})
	x.outcomes = make(chan sendOutcome, outcomeQueue)
	for range x.cfg.LedgerWriters {
		writers.Go(x.writeOutcomes)
	}
	sendErr := x.sender.Run(runCtx, jobs, x.onResult)
	close(senderDone)
	close(x.outcomes) // the Sender calls onResult no more
	writers.Wait()
	producer.Wait()
	var unsent []int64
	for job := range jobs {
		if d, err := parseJobKey(job.Key); err == nil {
			unsent = append(unsent, d.id)
		}
	}
	if err := x.releaseAfter(ctx, unsent, nil); err != nil {
		x.halt(err)
	}

	if x.crashed.Load() {
		return errSimulatedCrash
	}
	if err := x.stopReason(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if sendErr != nil {
		return fmt.Errorf("broadcast: the sender stopped: %w", sendErr)
	}
	return nil
}
