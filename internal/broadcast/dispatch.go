package broadcast

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

// preparedSend is a lead's message, built and checked, not yet claimed.
type preparedSend struct {
	delivery
	msg messenger.Outgoing
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
		after = page[len(page)-1].leadID
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
		ids[i] = s.id
	}
	claimedIDs, err := x.ledger.claim(ctx, ids, x.cfg.Now())
	if err != nil {
		return true, err
	}
	x.tracker.claimed()
	isClaimed := make(map[int64]bool, len(claimedIDs))
	for _, id := range claimedIDs {
		isClaimed[id] = true
	}
	var claimed []preparedSend
	for _, s := range batch {
		if isClaimed[s.id] {
			claimed = append(claimed, s)
		}
	}
	// A lead may have unsubscribed since its page was read: check again,
	// now that no other run can send to it.
	leadIDs := make([]int64, len(claimed))
	for i, s := range claimed {
		leadIDs[i] = s.leadID
	}
	unsub, err := x.ledger.unsubscribedAmong(ctx, leadIDs)
	if err != nil {
		return true, x.releaseAfter(ctx, claimedIDs, err)
	}
	gone := make(map[int64]bool, len(unsub))
	for _, id := range unsub {
		gone[id] = true
	}
	for i, s := range claimed {
		if gone[s.leadID] {
			ok, err := x.ledger.recordSkipped(ctx, s.delivery, SkipUnsubscribed, "", x.cfg.Now(), false)
			if err != nil {
				return true, x.releaseAfter(ctx, idsOf(claimed[i:]), err)
			}
			if ok {
				x.tracker.finished(1, func(p *Progress) { p.SkippedUnsubscribed++ })
			}
			continue
		}
		select {
		case jobs <- messenger.Job{Key: jobKey(s.delivery), Message: s.msg}:
		case <-ctx.Done():
			return true, x.releaseAfter(ctx, idsOf(claimed[i:]), nil)
		case <-senderDone:
			return true, x.releaseAfter(ctx, idsOf(claimed[i:]), nil)
		}
	}
	return false, nil
}

// idsOf returns the delivery ids of sends.
func idsOf(sends []preparedSend) []int64 {
	ids := make([]int64, len(sends))
	for i, s := range sends {
		ids[i] = s.id
	}
	return ids
}

// jobKey names a delivery in a Sender job: "<delivery id>:<lead id>".
func jobKey(d delivery) string {
	return strconv.FormatInt(d.id, 10) + ":" + strconv.FormatInt(d.leadID, 10)
}

// parseJobKey reads a key made by jobKey.
func parseJobKey(key string) (delivery, error) {
	a, b, ok := strings.Cut(key, ":")
	id, err1 := strconv.ParseInt(a, 10, 64)
	lead, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return delivery{}, fmt.Errorf("broadcast: the sender returned an unknown job key")
	}
	return delivery{id: id, leadID: lead}, nil
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
		unsub, unreach, outside          []delivery
		undecryptable, broken, oversized []delivery
		sends                            []preparedSend
	)
	windowApplies := x.cfg.MessagingType != messenger.MessagingTypeMessageTag
	now := x.cfg.Now()
	for _, l := range page {
		switch {
		case l.unsubscribed:
			unsub = append(unsub, l.delivery)
			continue
		case l.unreachable:
			unreach = append(unreach, l.delivery)
			continue
		case windowApplies && !l.inWindow:
			outside = append(outside, l.delivery)
			continue
		}
		fields, psid, ok := x.open(l)
		if !ok {
			undecryptable = append(undecryptable, l.delivery)
			continue
		}
		text, err := x.tmpl.render(fields)
		if err != nil {
			broken = append(broken, l.delivery)
			continue
		}
		link, err := UnsubscribeURL(x.cfg.UnsubscribeKey, x.cfg.Tenant, x.cfg.Host, x.cfg.Broadcast, l.leadID, now)
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
			oversized = append(oversized, l.delivery)
			continue
		}
		sends = append(sends, preparedSend{delivery: l.delivery, msg: msg})
	}

	type outcome struct {
		ds                  []delivery
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
		if len(o.ds) == 0 {
			continue
		}
		ids, leads := make([]int64, len(o.ds)), make([]int64, len(o.ds))
		for i, d := range o.ds {
			ids[i], leads[i] = d.id, d.leadID
		}
		n, err := x.ledger.finishPending(ctx, ids, o.state, o.code, o.reason, now)
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
			x.log.WarnContext(ctx, "deliveries failed before sending", "errorCode", o.code, "leadIDs", leads)
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
	psid, err := x.cfg.Keyring.Open(l.psidEnc, LeadAssociatedData("psid", l.leadID))
	if err != nil || len(psid) == 0 {
		return leadFields{}, "", false
	}
	var f leadFields
	if l.firstEnc != nil {
		b, err := x.cfg.Keyring.Open(l.firstEnc, LeadAssociatedData("first_name", l.leadID))
		if err != nil {
			return leadFields{}, "", false
		}
		f.FirstName = string(b)
	}
	if l.lastEnc != nil {
		b, err := x.cfg.Keyring.Open(l.lastEnc, LeadAssociatedData("last_name", l.leadID))
		if err != nil {
			return leadFields{}, "", false
		}
		f.LastName = string(b)
	}
	return f, string(psid), true
}
