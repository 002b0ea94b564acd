package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"syscall"
)

// Stages of an SMTP transaction, as named in an *Error.
const (
	StageCompose = "compose" // checking and building the message
	StageConnect = "connect" // dial, greeting, EHLO, STARTTLS, AUTH
	StageMail    = "MAIL FROM"
	StageRcpt    = "RCPT TO"
	StageData    = "DATA"
)

// Error is a failed SMTP transaction. Its text has the SMTP reply code and
// the server's words with e-mail addresses removed.
type Error struct {
	// Stage is where the transaction failed (StageConnect, StageMail, ...).
	Stage string
	// Code is the SMTP reply code (for example 451), or 0 when the failure
	// was not an SMTP reply (network, TLS, configuration).
	Code int
	// EnhancedCode is the RFC 3463 status code (for example "4.3.0"), if
	// the server sent one.
	EnhancedCode string

	message   string
	temporary bool
	err       error
}

// Error describes the failure without e-mail addresses.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mail: %s failed", e.Stage)
	if e.Code != 0 {
		fmt.Fprintf(&b, ": SMTP %d", e.Code)
		if e.EnhancedCode != "" {
			b.WriteString(" " + e.EnhancedCode)
		}
	}
	if e.message != "" {
		b.WriteString(": " + e.message)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.err }

// Temporary reports whether sending again later may succeed: an SMTP 4xx
// reply or a network failure.
func (e *Error) Temporary() bool { return e.temporary }

// RecipientFailure is one recipient the server refused at RCPT TO.
type RecipientFailure struct {
	// Address is the refused recipient.
	Address string
	// Code is the SMTP reply code, for example 550 or 450.
	Code int
	// EnhancedCode is the RFC 3463 status code, if the server sent one.
	EnhancedCode string
}

// Temporary reports whether the server may accept the recipient later.
func (f RecipientFailure) Temporary() bool { return f.Code/100 == 4 }

// RecipientError reports recipients refused at RCPT TO. The message was
// delivered to the others (Delivered); when none was accepted it was not
// sent at all. Its text counts the refusals but names no address.
type RecipientError struct {
	// Refused are the refused recipients.
	Refused []RecipientFailure
	// Delivered are the recipients the message was delivered to.
	Delivered []string
}

// Error counts refused recipients and lists their reply codes.
func (e *RecipientError) Error() string {
	codes := make([]string, len(e.Refused))
	for i, f := range e.Refused {
		codes[i] = fmt.Sprint(f.Code)
		if f.EnhancedCode != "" {
			codes[i] += " " + f.EnhancedCode
		}
	}
	return fmt.Sprintf("mail: %d of %d recipients refused (%s)",
		len(e.Refused), len(e.Refused)+len(e.Delivered), strings.Join(codes, ", "))
}

// Temporary reports whether any refusal was temporary, so that sending to
// the refused recipients again later may succeed.
func (e *RecipientError) Temporary() bool {
	for _, f := range e.Refused {
		if f.Temporary() {
			return true
		}
	}
	return false
}

// IsTemporary reports whether err is a failure that may go away: an SMTP
// 4xx reply (for a RecipientError: any refused recipient with a 4xx) or a
// network failure.
func IsTemporary(err error) bool {
	var re *RecipientError
	if errors.As(err, &re) {
		return re.Temporary()
	}
	var e *Error
	return errors.As(err, &e) && e.temporary
}

// IsPermanent reports whether err is a failure that sending the same
// message again will not fix: an SMTP 5xx reply (for a RecipientError: every
// refused recipient with a 5xx), or a configuration problem such as a
// server without STARTTLS when it is required, an untrusted certificate or
// rejected credentials. A cancelled send is neither temporary nor permanent.
func IsPermanent(err error) bool {
	var re *RecipientError
	if errors.As(err, &re) {
		return !re.Temporary()
	}
	var e *Error
	return errors.As(err, &e) && !e.temporary && !errors.Is(e.err, context.Canceled) &&
		!errors.Is(e.err, context.DeadlineExceeded)
}

// RefusedRecipients returns the recipients refused at RCPT TO, if err is or
// wraps a *RecipientError.
func RefusedRecipients(err error) []RecipientFailure {
	var re *RecipientError
	if errors.As(err, &re) {
		return re.Refused
	}
	return nil
}

// smtpError classifies err at stage.
func smtpError(stage string, err error) *Error {
	e := &Error{Stage: stage, err: err}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		e.Code = tp.Code
		e.EnhancedCode, e.message = splitEnhanced(tp.Msg)
		e.message = redactAddresses(e.message)
		e.temporary = tp.Code/100 == 4
		return e
	}
	e.message = redactAddresses(err.Error())
	e.temporary = isNetworkFailure(err)
	return e
}

// composeError is a permanent error about the message itself.
func composeError(err error) *Error {
	return &Error{Stage: StageCompose, message: strings.TrimPrefix(err.Error(), "mail: "), err: err}
}

// isNetworkFailure reports whether err is a failure of the network rather
// than of the configuration: worth retrying later.
func isNetworkFailure(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		return false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	return false
}

var enhancedCodeRE = regexp.MustCompile(`^([245]\.\d{1,3}\.\d{1,3})\s*`)

// splitEnhanced separates a leading RFC 3463 status code from msg.
func splitEnhanced(msg string) (code, rest string) {
	if m := enhancedCodeRE.FindStringSubmatch(msg); m != nil {
		return m[1], strings.TrimSpace(msg[len(m[0]):])
	}
	return "", strings.TrimSpace(msg)
}

var addressRE = regexp.MustCompile(`[^\s<>()\[\]",;:]+@[^\s<>()\[\]",;:]+`)

// redactAddresses replaces e-mail addresses in s, since servers often echo
// the recipient in their replies.
func redactAddresses(s string) string {
	return addressRE.ReplaceAllString(s, "[address]")
}
