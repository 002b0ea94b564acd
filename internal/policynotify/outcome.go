package policynotify

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

// outcomeKind is what a send attempt means for the recipient.
type outcomeKind int

const (
	// delivered: the server accepted the message.
	delivered outcomeKind = iota
	// refused: the server refused this message or recipient; nothing was
	// delivered. Temporary refusals are retried.
	refused
	// serverFailure: the attempt failed before the message was handed over
	// for a reason that is not about the recipient (connection, TLS, AUTH,
	// sender). Nothing was delivered; temporary ones are retried, the rest
	// stop the run.
	serverFailure
	// cancelled: the run's context ended before the message was handed over.
	// Nothing was delivered.
	cancelled
	// unknown: the message may have been delivered.
	unknown
)

// outcome classifies one send attempt.
type outcome struct {
	kind      outcomeKind
	temporary bool
	// aboutRecipient: the refusal names the recipient's address or
	// mailbox (RFC 3463 subjects X.1.X and X.2.X), not the message or the
	// server, so it says nothing about the other recipients.
	aboutRecipient bool
	// code is the SMTP reply for the ledger, e.g. "550 5.1.1", or an
	// ErrorCode constant.
	code string
	err  error
}

// classify turns the result of Sender.Send for a message with one
// recipient into an outcome. Only the message data stage can end with the
// message delivered although Send failed: a reply after the data (4xx/5xx)
// says it was not, a broken connection there leaves it unknown.
func classify(err error) outcome {
	if err == nil {
		return outcome{kind: delivered}
	}
	var re *mail.RecipientError
	if errors.As(err, &re) {
		if len(re.Delivered) > 0 || len(re.Refused) == 0 {
			return outcome{kind: unknown, code: ErrorCodeUnknownOutcome, err: err}
		}
		f := re.Refused[0]
		return outcome{kind: refused, temporary: f.Temporary(), aboutRecipient: aboutRecipient(f.EnhancedCode),
			code: smtpCode(f.Code, f.EnhancedCode), err: err}
	}
	var me *mail.Error
	if !errors.As(err, &me) {
		return outcome{kind: unknown, code: ErrorCodeUnknownOutcome, err: err}
	}
	canceled := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	switch {
	case me.Stage == mail.StageData && me.Code != 0:
		return outcome{kind: refused, temporary: me.Temporary(), aboutRecipient: aboutRecipient(me.EnhancedCode),
			code: smtpCode(me.Code, me.EnhancedCode), err: err}
	case me.Stage == mail.StageData:
		return outcome{kind: unknown, code: ErrorCodeUnknownOutcome, err: err}
	case canceled:
		return outcome{kind: cancelled, err: err}
	default:
		return outcome{kind: serverFailure, temporary: me.Temporary(), code: smtpCode(me.Code, me.EnhancedCode), err: err}
	}
}

// aboutRecipient reports whether an RFC 3463 enhanced status code is about
// the recipient's address (X.1.X) or mailbox (X.2.X).
func aboutRecipient(enhanced string) bool {
	_, rest, ok := strings.Cut(enhanced, ".")
	return ok && (strings.HasPrefix(rest, "1.") || strings.HasPrefix(rest, "2."))
}

// smtpCode formats a reply code for the ledger: "550 5.1.1", "451", or
// "network" when there was no reply.
func smtpCode(code int, enhanced string) string {
	if code == 0 {
		return "network"
	}
	s := strconv.Itoa(code)
	if enhanced != "" {
		s += " " + enhanced
	}
	return s
}
