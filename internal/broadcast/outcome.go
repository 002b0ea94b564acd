package broadcast

import (
	"context"
	"errors"
	"fmt"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

// onResult takes the outcome of one send. The Sender calls it from its
// workers, once per job it took, also after the run was cancelled. It
// stops the run at once on an invalid token, and queues the ledger write
// for the outcome writers, so that a slow database does not hold the
// Sender's workers.
func (x *run) onResult(res messenger.Result) {
	d, err := parseJobKey(res.Job.Key)
	if err != nil {
		x.halt(err)
		return
	}
	if x.crashed.Load() {
		return // a dead process writes nothing
	}
	if h := x.hooks.afterSend; h != nil && h(d.leadID, res.Sent()) {
		x.crashed.Store(true)
		x.halt(errSimulatedCrash)
		return
	}
	var se *messenger.SendError
	if errors.As(res.Err, &se) && se.Class == messenger.InvalidToken && !errors.Is(res.Err, messenger.ErrNotSent) {
		x.halt(invalidTokenError(se))
	}
	x.outcomes <- sendOutcome{delivery: d, res: res}
}

// invalidTokenError is the error that stops a run whose token Graph
// refused.
func invalidTokenError(se *messenger.SendError) *Error {
	return &Error{Class: InvalidToken, Reason: ReasonInvalidToken, err: se,
		Message: fmt.Sprintf("Graph refused the Page access token (code %s); replace the token in the tenant's "+
			"messenger secret, then resume the broadcast", errorCodeOf(se))}
}

// sendOutcome is a send's result waiting for its ledger write.
type sendOutcome struct {
	delivery
	res messenger.Result
}

// writeOutcomes records queued outcomes until the queue is closed.
func (x *run) writeOutcomes() {
	for o := range x.outcomes {
		if x.crashed.Load() || x.ledgerBroken.Load() {
			continue
		}
		x.record(o.delivery, o.res)
	}
}

// record writes the outcome of one send to the ledger.
func (x *run) record(d delivery, res messenger.Result) {
	ctx := context.Background()
	now := x.cfg.Now()
	if res.Err == nil {
		ok, err := x.ledger.recordSent(ctx, d, res.MessageID, now)
		x.recorded(ok, err, d, func(p *Progress) { p.Sent++ })
		x.tracker.sendAnswered(true, false, DeliveryError{})
		return
	}
	if errors.Is(res.Err, messenger.ErrNotSent) {
		// Never handed to Graph, or refused with certainty: it stays in
		// the audience for the next run.
		if err := x.ledger.release(ctx, []int64{d.id}); err != nil {
			x.ledgerFailed(err)
		}
		return
	}
	se := asSendError(res.Err)
	code := errorCodeOf(se)
	switch {
	case se.MaybeDelivered:
		ok, err := x.ledger.recordFailed(ctx, d, ErrorCodeUnknownOutcome, now)
		x.recorded(ok, err, d, func(p *Progress) { p.Failed++; p.UnknownOutcome++ })
		x.tracker.sendAnswered(false, true, deliveryError(se))
		x.log.Warn("delivery outcome unknown: not retried", "leadID", d.leadID, "errorCode", code)
	case se.Class == messenger.InvalidToken:
		// Graph refused the call before sending: the lead keeps its place.
		// onResult already stopped the run.
		if err := x.ledger.release(ctx, []int64{d.id}); err != nil {
			x.ledgerFailed(err)
		}
		x.tracker.setLastError(deliveryError(se))
	case se.Class == messenger.OutsideWindow:
		ok, err := x.ledger.recordSkipped(ctx, d, SkipOutsideWindow, code, now, false)
		x.recorded(ok, err, d, func(p *Progress) { p.SkippedOutsideWindow++ })
		x.tracker.sendAnswered(false, false, DeliveryError{})
	case se.Class == messenger.Unavailable:
		ok, err := x.ledger.recordSkipped(ctx, d, SkipUnreachable, code, now, true)
		x.recorded(ok, err, d, func(p *Progress) { p.SkippedUnreachable++ })
		x.tracker.sendAnswered(false, false, DeliveryError{})
	default:
		ok, err := x.ledger.recordFailed(ctx, d, code, now)
		x.recorded(ok, err, d, func(p *Progress) { p.Failed++ })
		x.tracker.sendAnswered(false, true, deliveryError(se))
		x.log.Warn("delivery failed", "leadID", d.leadID, "errorCode", code, "class", string(se.Class))
	}
	x.checkFailureRatio()
}

// recorded updates the progress after a ledger write, or stops the run
// when the write failed: without the ledger no send is safe.
func (x *run) recorded(ok bool, err error, d delivery, count func(p *Progress)) {
	if err != nil {
		x.ledgerFailed(err)
		return
	}
	if !ok {
		// The delivery left the ledger meanwhile (the lead was erased).
		x.log.Info("delivery no longer in the ledger; outcome not recorded", "leadID", d.leadID)
		return
	}
	x.tracker.finished(1, count)
}

// ledgerFailed stops the run after a failed ledger write.
func (x *run) ledgerFailed(err error) {
	x.ledgerBroken.Store(true)
	x.halt(err)
}

// checkFailureRatio pauses the run when too many of its sends failed.
func (x *run) checkFailureRatio() {
	limit := x.cfg.MaxFailureRatio
	if limit <= 0 {
		return
	}
	failed, attempted := x.tracker.failureRatio()
	if attempted < MinAttemptsForAutoPause || float64(failed)/float64(attempted) <= limit {
		return
	}
	x.halt(&Error{Class: Paused, Reason: ReasonFailureRatioExceeded,
		Message: fmt.Sprintf("%d of %d sends failed in this run (%.0f%%), more than maxFailureRatio %.0f%%; the broadcast paused, see lastError",
			failed, attempted, 100*float64(failed)/float64(attempted), 100*limit)})
}

// errorCodeOf is the ledger's error code of a failed send.
func errorCodeOf(se *messenger.SendError) string {
	switch {
	case se.MaybeDelivered:
		return ErrorCodeUnknownOutcome
	case se.Code != 0 && se.Subcode != 0:
		return fmt.Sprintf("%d/%d", se.Code, se.Subcode)
	case se.Code != 0:
		return fmt.Sprintf("%d", se.Code)
	case se.HTTPStatus != 0:
		return fmt.Sprintf("http_%d", se.HTTPStatus)
	default:
		return ErrorCodeTransport
	}
}

// deliveryError describes se for Progress.LastError.
func deliveryError(se *messenger.SendError) DeliveryError {
	return DeliveryError{Code: errorCodeOf(se), GraphCode: se.Code, GraphSubcode: se.Subcode, Text: se.Message}
}

// asSendError returns err as a *messenger.SendError; any other error is
// taken to mean the message may have been delivered.
func asSendError(err error) *messenger.SendError {
	var se *messenger.SendError
	if errors.As(err, &se) {
		return se
	}
	return &messenger.SendError{Class: messenger.Transient, MaybeDelivered: true, Message: "unexpected error from the sender"}
}
