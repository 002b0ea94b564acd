package messenger

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrorClass groups Send API failures by what a sender should do about them.
type ErrorClass string

const (
	// RateLimited means Graph throttled the app, the Page or the business:
	// slow down and retry later. The message was not delivered.
	RateLimited ErrorClass = "RateLimited"
	// OutsideWindow means the person's 24-hour messaging window is closed
	// for this messaging type: skip the person, do not retry.
	OutsideWindow ErrorClass = "OutsideWindow"
	// Unavailable means the person cannot receive messages from the Page
	// right now (blocked the Page, deactivated, or messages turned off).
	Unavailable ErrorClass = "Unavailable"
	// InvalidToken means the Page access token is invalid, expired or
	// revoked: stop sending until the token is replaced.
	InvalidToken ErrorClass = "InvalidToken"
	// Transient means a server error, a timeout or a connection failure:
	// retrying later may succeed.
	Transient ErrorClass = "Transient"
	// Permanent means Graph refused this request for a reason retrying will
	// not fix (bad parameters, missing permission, unknown recipient).
	Permanent ErrorClass = "Permanent"
)

// Retryable reports whether the same request may succeed if sent again later.
func (c ErrorClass) Retryable() bool {
	return c == RateLimited || c == Transient
}

// SendError is a failed Send API call. Its text carries Graph's code, subcode
// and message but never the access token or the recipient's PSID.
type SendError struct {
	// Code is Graph's error code (for example 613), or 0 when the request
	// got no Graph error body (connection failure, timeout, proxy error).
	Code int
	// Subcode is Graph's error_subcode, or 0.
	Subcode int
	// Class is what a sender should do about the error.
	Class ErrorClass
	// Message is Graph's error message, or a description of the transport
	// failure, with the token and the PSID removed.
	Message string
	// HTTPStatus is the HTTP status of the response, or 0 without one.
	HTTPStatus int
	// FBTraceID is Graph's fbtrace_id, useful in a support request.
	FBTraceID string
	// MaybeDelivered is true when the request was written but no answer was
	// read (a timeout or a connection reset after sending): Graph may have
	// delivered the message. Retrying such a request can send it twice.
	MaybeDelivered bool

	// cause is the underlying transport or validation error, for errors.Is
	// (for example context.DeadlineExceeded). Its text is not part of Error.
	cause error
}

// Unwrap returns the transport or validation error behind e, if any.
func (e *SendError) Unwrap() error { return e.cause }

// Error describes the failure without personal data or credentials.
func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "messenger: send failed (%s", e.Class)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Subcode != 0 {
		fmt.Fprintf(&b, ", subcode %d", e.Subcode)
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ", HTTP %d", e.HTTPStatus)
	}
	b.WriteString(")")
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.MaybeDelivered {
		b.WriteString(" (the message may have been delivered)")
	}
	return b.String()
}

// ClassOf returns the ErrorClass of err if it is or wraps a *SendError, and
// "" otherwise.
func ClassOf(err error) ErrorClass {
	var se *SendError
	if errors.As(err, &se) {
		return se.Class
	}
	return ""
}

// Graph error codes and subcodes that decide a class. Sources: the Graph API
// error-handling guide and the Messenger Platform error-code reference.
const (
	codeUnknown          = 1    // API Unknown: retry
	codeService          = 2    // API Service: temporary, retry
	codeTooManyCalls     = 4    // application request limit reached
	codePermission       = 10   // permission denied; window subcodes below
	codeUserTooManyCalls = 17   // user request limit reached
	codePageTooManyCalls = 32   // Page request limit reached
	codeSession          = 102  // API session: login status or token invalid
	codeTokenRequired    = 104  // an access token is required
	codeInvalidToken     = 190  // invalid OAuth access token
	codeUnavailable      = 551  // this person isn't available right now
	codeRateLimit        = 613  // calls to this API have exceeded the rate limit
	codeTemporarySend    = 1200 // temporary send message failure
	codeBUCPages         = 80001
	codeBUCMessenger     = 80006

	subcodeTooManySends           = 2018022 // too many send requests (with code 4)
	subcodeOutsideWindowNeedsPerm = 2018065 // outside of allowed window, needs permission
	subcodeNotReceiving           = 2018108 // this person isn't receiving messages from you right now
	subcodeOutsideWindow          = 2018278 // outside of allowed window
	subcodeMarketingMinDelay      = 2018354 // marketing messages: minimum delay per person
	subcodePersonUnavailable      = 1545041 // message not sent: this person isn't available right now
)

// classify maps an HTTP status and a Graph error to an ErrorClass.
func classify(status, code, subcode int, transient bool) ErrorClass {
	switch {
	case code == codeInvalidToken || code == codeSession || code == codeTokenRequired:
		return InvalidToken
	case code == codeTooManyCalls && subcode == subcodeMarketingMinDelay:
		// A per-person cadence rule, not throttling: slowing the whole
		// sender down would not make this message acceptable.
		return Permanent
	case code == codeTooManyCalls || code == codeUserTooManyCalls || code == codePageTooManyCalls ||
		code == codeRateLimit || code == codeBUCPages || code == codeBUCMessenger ||
		subcode == subcodeTooManySends:
		return RateLimited
	case code == codePermission && (subcode == subcodeOutsideWindow || subcode == subcodeOutsideWindowNeedsPerm):
		return OutsideWindow
	case code == codeUnavailable || subcode == subcodePersonUnavailable ||
		(code == codePermission && subcode == subcodeNotReceiving):
		return Unavailable
	case code == codeUnknown || code == codeService || code == codeTemporarySend || transient:
		return Transient
	case code == 0 && status == http.StatusTooManyRequests:
		return RateLimited
	case status >= 500 || status == http.StatusRequestTimeout:
		return Transient
	default:
		return Permanent
	}
}
