package policynotify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

// Notifier mails one policy version to the users of one tenant. Run may be
// called again after it returned, by this or by a fresh Notifier, also in
// another process: it carries on where the ledger says the last run
// stopped.
type Notifier struct {
	cfg     Config
	notice  mail.Notice
	ledger  *notificationLedger
	users   *userDirectory
	limiter *rate.Limiter
}

// New checks cfg, renders the notice and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	notice, err := mail.Render(mail.KindPolicyPublished, mail.PolicyPublishedData{
		Product:             cfg.Product,
		Version:             cfg.Version,
		Summary:             cfg.Summary,
		EffectiveAt:         cfg.EffectiveAt,
		DocumentURL:         cfg.DocumentURL,
		RequireReacceptance: cfg.RequireReacceptance,
	})
	if err != nil {
		return nil, fmt.Errorf("policynotify: %w", err)
	}
	return &Notifier{
		cfg:     cfg,
		notice:  notice,
		ledger:  newNotificationLedger(cfg.DB, cfg.Engine, cfg.Version),
		users:   newUserDirectory(cfg.DB, cfg.Engine, cfg.Version),
		limiter: rate.NewLimiter(cfg.Rate, 1),
	}, nil
}

// Run mails every user who has not been notified of the version yet and
// returns the version's final progress, read from the ledger.
//
// It first marks claims abandoned by an earlier run (see the package
// documentation) as failed with ErrorCodeUnknownOutcome. It returns nil when
// every user is in the ledger: then Recipients = Sent + Failed +
// UnknownOutcome, unless a concurrent worker still holds claims. It returns
// ctx's error when ctx ended (the sends under way were finished and
// recorded, see Config.DrainTimeout), or an error when the mail server, the
// keyring or the database failed in a way that stops the run. Errors name no
// e-mail address.
func (n *Notifier) Run(ctx context.Context) (Progress, error) {
	start := n.cfg.Now()
	abandoned, err := n.ledger.resolveAbandoned(ctx, start)
	if err != nil {
		return Progress{}, fmt.Errorf("policynotify: %w", err)
	}
	if abandoned > 0 {
		n.cfg.Logger.Warn("claims of an interrupted run recorded as unknown outcome", "users", abandoned)
	}
	initial, err := n.Counts(ctx)
	if err != nil {
		return Progress{}, fmt.Errorf("policynotify: %w", err)
	}
	n.cfg.Logger.Info("notifying users of a policy version", "version", n.cfg.Version,
		"recipients", initial.Recipients, "sent", initial.Sent, "failed", initial.Failed)

	t := newTally(initial)
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	// Once the run stops, the sends under way get DrainTimeout to finish.
	stopDrain := context.AfterFunc(runCtx, func() { time.AfterFunc(n.cfg.DrainTimeout, cancelSends) })
	defer stopDrain()
	stopReports := n.reportProgress(runCtx, t)

	var (
		wg     sync.WaitGroup
		streak = &failureStreak{limit: n.cfg.MaxConsecutiveFailures}
		jobs   = make(chan recipient, n.cfg.Concurrency)
		// inflight counts the users handed out and not yet dealt with.
		inflight sync.WaitGroup
	)
	for range n.cfg.Concurrency {
		wg.Go(func() {
			for r := range jobs {
				// After a stop the channel is only drained, so that the
				// producer can stop.
				if runCtx.Err() == nil {
					if err := n.notifyOne(runCtx, sendCtx, r, t, streak); err != nil {
						stopRun(err)
					}
				}
				inflight.Done()
			}
		})
	}
	if err := n.produce(runCtx, jobs, &inflight); err != nil {
		stopRun(err)
	}
	close(jobs)
	wg.Wait()
	stopReports()

	// A fatal error of a worker or the producer, or ctx's end; nil when
	// every user was dealt with.
	runErr := context.Cause(runCtx)
	countCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	final, err := n.Counts(countCtx)
	if err != nil {
		final = t.snapshot()
		runErr = errors.Join(runErr, fmt.Errorf("policynotify: %w", err))
	}
	n.cfg.Logger.Info("policy version notification run ended", "version", n.cfg.Version,
		"recipients", final.Recipients, "sent", final.Sent, "failed", final.Failed,
		"unknownOutcome", final.UnknownOutcome, "stoppedEarly", runErr != nil)
	return final, runErr
}

// maxPasses bounds the passes over the users table in one run.
const maxPasses = 3

// produce feeds the users still to notify into jobs, one keyset page at a
// time, until a pass over the users table finds none left (at most
// maxPasses passes) or ctx ends. A further pass, started once the users of
// the last one have been dealt with, finds users whose claim a concurrent
// worker withdrew after this pass went by them.
func (n *Notifier) produce(ctx context.Context, jobs chan<- recipient, inflight *sync.WaitGroup) error {
	for range maxPasses {
		handed, err := n.producePass(ctx, jobs, inflight)
		if err != nil || handed == 0 {
			return err
		}
		idle := make(chan struct{})
		go func() { inflight.Wait(); close(idle) }()
		select {
		case <-idle:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// producePass makes one keyset pass over the users and returns how many it
// handed out.
func (n *Notifier) producePass(ctx context.Context, jobs chan<- recipient, inflight *sync.WaitGroup) (int, error) {
	var (
		after  int64
		handed int
	)
	for {
		page, err := n.users.page(ctx, after, n.cfg.PageSize)
		if err != nil {
			if ctx.Err() != nil {
				return handed, nil
			}
			return handed, fmt.Errorf("policynotify: %w", err)
		}
		for _, r := range page {
			inflight.Add(1)
			select {
			case jobs <- r:
				handed++
			case <-ctx.Done():
				inflight.Done()
				return handed, nil
			}
		}
		if len(page) < n.cfg.PageSize {
			return handed, nil
		}
		after = page[len(page)-1].id
	}
}
