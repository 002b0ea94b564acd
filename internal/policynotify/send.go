package policynotify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
)

// recordTimeout bounds one ledger write made after the run's context ended.
const recordTimeout = 10 * time.Second

// notifyOne mails r unless the ledger says someone already did, and records
// the outcome. It returns an error only when the whole run must stop.
// runCtx ends when the run stops taking users; sendCtx ends DrainTimeout
// later, so that a message under way is finished and recorded.
func (n *Notifier) notifyOne(runCtx, sendCtx context.Context, r recipient, t *tally, streak *failureStreak) error {
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), recordTimeout)
	defer cancel()
	log := n.cfg.Logger.With("user_id", r.id)

	addr, err := n.cfg.Keyring.Open(r.emailEnc, emailAssociatedData(r.id))
	if errors.Is(err, crypto.ErrUnknownKey) {
		return fmt.Errorf("policynotify: the keyring lacks the key that sealed the address of user %d: "+
			"is it the tenant's complete keyring? stopping", r.id)
	}
	if err != nil {
		if err := n.failWithoutSend(recordCtx, r.id, ErrorCodeUndecryptable, t); err != nil {
			return err
		}
		return n.countFailure(recordCtx, streak, t, r.id, true, ErrorCodeUndecryptable)
	}
	msg := n.notice.Message(string(addr))
	if msg.Validate() != nil {
		return n.failWithoutSend(recordCtx, r.id, ErrorCodeInvalidAddress, t)
	}

	if n.limiter.Wait(runCtx) != nil {
		return nil // the run is stopping; nothing was claimed
	}
	claimed, err := n.ledger.claim(recordCtx, r.id, n.cfg.Now())
	if err != nil {
		return err
	}
	if !claimed {
		return nil
	}

	for attempt := 1; ; attempt++ {
		o := classify(n.cfg.Mailer.Send(sendCtx, msg))
		switch o.kind {
		case delivered:
			streak.reset()
			if err := n.ledger.markSent(recordCtx, r.id, n.cfg.Now()); err != nil {
				return err
			}
			t.sent.Add(1)
			return nil

		case cancelled:
			return n.ledger.release(recordCtx, r.id)

		case unknown:
			if err := n.ledger.markFailed(recordCtx, r.id, o.code); err != nil {
				return err
			}
			t.unknown.Add(1)
			log.Warn("policy notice may or may not have been delivered; not resending", "code", o.code)
			return n.countFailure(recordCtx, streak, t, r.id, false, o.code)

		case refused:
			if o.temporary && attempt < n.cfg.MaxAttempts {
				if !n.backoff(runCtx, attempt) {
					return n.ledger.release(recordCtx, r.id)
				}
				continue
			}
			if err := n.ledger.markFailed(recordCtx, r.id, o.code); err != nil {
				return err
			}
			t.failed.Add(1)
			log.Warn("policy notice refused by the mail server", "code", o.code, "attempts", attempt)
			if o.aboutRecipient {
				streak.reset()
				return nil
			}
			return n.countFailure(recordCtx, streak, t, r.id, true, o.code)

		case serverFailure:
			if o.temporary && attempt < n.cfg.MaxAttempts {
				if !n.backoff(runCtx, attempt) {
					return n.ledger.release(recordCtx, r.id)
				}
				continue
			}
			if err := n.ledger.release(recordCtx, r.id); err != nil {
				return err
			}
			return fmt.Errorf("policynotify: sending through the mail server failed after %d attempt(s), stopping: %w", attempt, o.err)
		}
	}
}

// failWithoutSend records a user who cannot be mailed at all.
func (n *Notifier) failWithoutSend(ctx context.Context, user int64, code string, t *tally) error {
	inserted, err := n.ledger.insertFailed(ctx, user, code, n.cfg.Now())
	if err != nil {
		return err
	}
	if inserted {
		t.failed.Add(1)
		n.cfg.Logger.Warn("policy notice not sent", "user_id", user, "code", code)
	}
	return nil
}

// countFailure adds a failure that is not about one recipient to the
// streak. When the streak trips it withdraws the streak's users that were
// certainly not mailed and stops the run.
func (n *Notifier) countFailure(ctx context.Context, streak *failureStreak, t *tally, user int64, retryable bool, code string) error {
	tripped, release := streak.fail(user, retryable)
	if !tripped {
		return nil
	}
	for _, id := range release {
		if err := n.ledger.release(ctx, id); err != nil {
			return err
		}
		t.failed.Add(-1)
	}
	return fmt.Errorf("policynotify: %d users in a row could not be mailed (last: %s), which points at the mail server "+
		"or the keyring, not at the recipients; stopping, %d of them left to the next run",
		n.cfg.MaxConsecutiveFailures, code, len(release))
}

// backoff waits before attempt+1: RetryBackoff doubled per attempt, capped
// at MaxRetryBackoff, between half and all of it, then for the rate
// limiter. It reports false when ctx ended first.
func (n *Notifier) backoff(ctx context.Context, attempt int) bool {
	d := n.cfg.RetryBackoff
	for i := 1; i < attempt && d < n.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, n.cfg.MaxRetryBackoff)
	d = d/2 + rand.N(d/2+1)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
	}
	return n.limiter.Wait(ctx) == nil
}
