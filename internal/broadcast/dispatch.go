package broadcast

import (
	"context"
	"fmt"
	"strconv"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

// preparedSend is a lead's message, built and checked, not yet claimed.
type preparedSend struct {
	leadID int64
	msg    messenger.Outgoing
}

// produce reads the pending deliveries page by page, completes those that
// need no send, claims the others in small batches and hands them to the
// Sender one at a time. Claims it could not hand over are released. It
// returns nil when the audience is exhausted or the run stops, and an
// error when the ledger fails.
func (x *run) produce(ctx context.Context, jobs chan<- messenger.Job, senderDone <-chan struct{}) error {
	var after int64
	for {
		if ctx.Err() != nil {
			return nil
		}
		page, err := x.audience.page(ctx, after, x.cfg.PageSize, x.cfg.Now().Add(-Window))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(page) == 0 {
			return nil
		}
		after = page[len(page)-1].id
		sends, err := x.prepare(ctx, page)
		if err != nil {
			return err
		}
		for start := 0; start < len(sends); start += x.cfg.ClaimBatch {
			batch := sends[start:min(start+x.cfg.ClaimBatch, len(sends))]
			stopped, err := x.dispatch(ctx, batch, jobs, senderDone)
			if err != nil || stopped {
				return err
			}
		}
	}
}

// dispatch claims batch and hands it to the Sender. It reports whether the
// run stopped meanwhile.
func (x *run) dispatch(ctx context.Context, batch []preparedSend, jobs chan<- messenger.Job, senderDone <-chan struct{}) (bool, error) {
	if ctx.Err() != nil || x.crashed.Load() {
		return true, nil
	}
	ids := make([]int64, len(batch))
	for i, s := range batch {
		ids[i] = s.leadID
	}
	claimed, err := x.ledger.claim(ctx, ids, x.cfg.Now())
	if err != nil {
		return true, err
	}
	x.tracker.claimed()
	// A lead may have unsubscribed since its page was read: check again,
	// now that no other run can send to it.
	unsub, err := x.ledger.unsubscribedAmong(ctx, claimed)
	if err != nil {
		return true, x.releaseAfter(ctx, claimed, err)
	}
	skip := make(map[int64]bool, len(unsub))
	for _, id := range unsub {
		ok, err := x.ledger.recordSkipped(ctx, id, SkipUnsubscribed, "", x.cfg.Now(), false)
		if err != nil {
			return true, x.releaseAfter(ctx, claimed, err)
		}
		skip[id] = true
		if ok {
			x.tracker.finished(1, func(p *Progress) { p.SkippedUnsubscribed++ })
		}
	}
	isClaimed := make(map[int64]bool, len(claimed))
	for _, id := range claimed {
		isClaimed[id] = true
	}
	var handed []int64
	for _, s := range batch {
		if !isClaimed[s.leadID] || skip[s.leadID] {
			continue
		}
		job := messenger.Job{Key: strconv.FormatInt(s.leadID, 10), Message: s.msg}
		select {
		case jobs <- job:
			handed = append(handed, s.leadID)
		case <-ctx.Done():
			return true, x.releaseUnhanded(ctx, claimed, handed, skip)
		case <-senderDone:
			return true, x.releaseUnhanded(ctx, claimed, handed, skip)
		}
	}
	return false, nil
}

// releaseUnhanded returns the claims that never reached the Sender to
// pending.
func (x *run) releaseUnhanded(ctx context.Context, claimed, handed []int64, skip map[int64]bool) error {
	done := make(map[int64]bool, len(handed))
	for _, id := range handed {
		done[id] = true
	}
	var rest []int64
	for _, id := range claimed {
		if !done[id] && !skip[id] {
			rest = append(rest, id)
		}
	}
	return x.releaseAfter(ctx, rest, nil)
}

// releaseAfter releases claims of messages that were not sent and returns
// cause, or the release's own failure. After a simulated crash or a failed
// ledger write nothing is written.
func (x *run) releaseAfter(ctx context.Context, ids []int64, cause error) error {
	if x.crashed.Load() || x.ledgerBroken.Load() {
		return cause
	}
	if err := x.ledger.release(ctx, ids); err != nil && cause == nil {
		return err
	}
	return cause
}

// prepare decides what each lead of a page needs. Leads that unsubscribed,
// became unreachable or are outside the 24-hour window are skipped; leads
// whose message cannot be built fail; both are recorded here in a few
// batch statements. The others come back with their message, in lead id
// order. PSIDs and names are opened only for those.
func (x *run) prepare(ctx context.Context, page []pendingLead) ([]preparedSend, error) {
	var (
		unsub, unreach, outside          []int64
		undecryptable, broken, oversized []int64
		sends                            []preparedSend
	)
	windowApplies := x.cfg.MessagingType != messenger.MessagingTypeMessageTag
	now := x.cfg.Now()
	for _, l := range page {
		switch {
		case l.unsubscribed:
			unsub = append(unsub, l.id)
			continue
		case l.unreachable:
			unreach = append(unreach, l.id)
			continue
		case windowApplies && !l.inWindow:
			outside = append(outside, l.id)
			continue
		}
		fields, psid, ok := x.open(l)
		if !ok {
			undecryptable = append(undecryptable, l.id)
			continue
		}
		text, err := x.tmpl.render(fields)
		if err != nil {
			broken = append(broken, l.id)
			continue
		}
		link, err := UnsubscribeURL(x.cfg.UnsubscribeKey, x.cfg.Tenant, x.cfg.Host, x.cfg.Broadcast, l.id, now)
		if err != nil {
			// New checked the key, tenant and broadcast; lead ids are digits.
			return nil, fmt.Errorf("broadcast: signing an unsubscribe link: %w", err)
		}
		msg := messenger.Outgoing{
			PSID:          psid,
			MessagingType: x.cfg.MessagingType,
			Tag:           x.cfg.Tag,
			Text:          composeText(text, link),
			Buttons:       x.cfg.Buttons,
		}
		if err := msg.Validate(); err != nil {
			oversized = append(oversized, l.id)
			continue
		}
		sends = append(sends, preparedSend{leadID: l.id, msg: msg})
	}

	type outcome struct {
		ids                 []int64
		state, code, reason string
		count               func(p *Progress)
	}
	for _, o := range []outcome{
		{unsub, stateSkipped, "", SkipUnsubscribed, func(p *Progress) { p.SkippedUnsubscribed++ }},
		{unreach, stateSkipped, "", SkipUnreachable, func(p *Progress) { p.SkippedUnreachable++ }},
		{outside, stateSkipped, "", SkipOutsideWindow, func(p *Progress) { p.SkippedOutsideWindow++ }},
		{undecryptable, stateFailed, ErrorCodeUndecryptable, "", func(p *Progress) { p.Failed++ }},
		{broken, stateFailed, ErrorCodeTemplate, "", func(p *Progress) { p.Failed++ }},
		{oversized, stateFailed, ErrorCodeInvalidMessage, "", func(p *Progress) { p.Failed++ }},
	} {
		if len(o.ids) == 0 {
			continue
		}
		n, err := x.ledger.finishPending(ctx, o.ids, o.state, o.code, o.reason, now)
		if err != nil {
			return nil, err
		}
		x.tracker.finished(n, func(p *Progress) {
			for range n {
				o.count(p)
			}
		})
		if o.state == stateFailed {
			x.tracker.setLastError(DeliveryError{Code: o.code, Text: failureText[o.code]})
			x.log.WarnContext(ctx, "deliveries failed before sending", "errorCode", o.code, "leadIDs", o.ids)
		}
	}
	return sends, nil
}

// failureText explains the failures found before a send.
var failureText = map[string]string{
	ErrorCodeUndecryptable:  "the tenant keyring could not open a lead's PSID or name",
	ErrorCodeTemplate:       "the message template failed for a lead",
	ErrorCodeInvalidMessage: "a lead's message breaks a Send API limit (too long with the lead's name?)",
}

// open decrypts a lead's PSID and names.
func (x *run) open(l pendingLead) (leadFields, string, bool) {
	psid, err := x.cfg.Keyring.Open(l.psidEnc, LeadAssociatedData("psid", l.id))
	if err != nil || len(psid) == 0 {
		return leadFields{}, "", false
	}
	var f leadFields
	if l.firstEnc != nil {
		b, err := x.cfg.Keyring.Open(l.firstEnc, LeadAssociatedData("first_name", l.id))
		if err != nil {
			return leadFields{}, "", false
		}
		f.FirstName = string(b)
	}
	if l.lastEnc != nil {
		b, err := x.cfg.Keyring.Open(l.lastEnc, LeadAssociatedData("last_name", l.id))
		if err != nil {
			return leadFields{}, "", false
		}
		f.LastName = string(b)
	}
	return f, string(psid), true
}
