package broadcast

import (
	"errors"
	"strings"
)

// Class says what the broadcast worker, and the controller reading its
// result, should do about an error from New or Run.
type Class string

const (
	// Invalid: the Broadcast spec or the worker's configuration is wrong.
	// Nothing was sent; the Broadcast should be marked Failed until its spec
	// changes. The error wraps one *ValidationError per problem.
	Invalid Class = "Invalid"
	// InvalidToken: Graph refused the Page access token (code 190, or 102
	// or 104). The run stopped before sending anything more; deliveries not
	// sent stay pending, so a run with a new token carries on.
	InvalidToken Class = "InvalidToken"
	// Paused: more than MaxFailureRatio of this run's sends failed, and the
	// run stopped cleanly (auto-pause). Deliveries not sent stay pending.
	Paused Class = "Paused"
	// Busy: another worker is running the same broadcast against the same
	// database. This run did nothing.
	Busy Class = "Busy"
)

// Reasons of the *Error values this package returns, CamelCase for a
// condition reason.
const (
	ReasonInvalidSpec          = "InvalidSpec"
	ReasonInvalidToken         = "InvalidToken"
	ReasonFailureRatioExceeded = "FailureRatioExceeded"
	ReasonAlreadyRunning       = "AlreadyRunning"
)

// Error is an error of a known Class. Its text holds no personal data and no
// credentials.
type Error struct {
	// Class says what to do about it.
	Class Class
	// Reason is a CamelCase fact for a condition reason.
	Reason string
	// Message is a sentence a platform engineer can act on.
	Message string

	err error
}

// Error returns the message.
func (e *Error) Error() string { return "broadcast: " + e.Message }

// Unwrap returns the errors behind e: the *ValidationError values of an
// Invalid error, the *messenger.SendError of an InvalidToken error.
func (e *Error) Unwrap() error { return e.err }

// ClassOf returns the Class of err if it is or wraps an *Error or a
// *ValidationError, and "" otherwise (for example a database failure, which
// a later run may not meet again).
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	var v *ValidationError
	if errors.As(err, &v) {
		return Invalid
	}
	return ""
}

// ValidationError is one problem with a Broadcast spec or with the
// configuration the worker built from it.
type ValidationError struct {
	// Field names what is wrong: a Broadcast field such as
	// "spec.message.text", or a Config field such as "Config.Host".
	Field string
	// Reason is a CamelCase fact, for example "TemplateUnknownField".
	Reason string
	// Message says what is wrong and how to fix it.
	Message string
}

// Error returns "field: message".
func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// invalid wraps validation problems in an Invalid *Error.
func invalid(problems []*ValidationError) error {
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	texts := make([]string, len(problems))
	for i, p := range problems {
		errs[i] = p
		texts[i] = p.Error()
	}
	return &Error{
		Class:   Invalid,
		Reason:  ReasonInvalidSpec,
		Message: "invalid broadcast: " + strings.Join(texts, "; "),
		err:     errors.Join(errs...),
	}
}
