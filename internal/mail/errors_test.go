package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"syscall"
	"testing"
)

func TestSMTPErrorClassification(t *testing.T) {
	tests := []struct {
		name                 string
		err                  error
		temporary, permanent bool
		code                 int
		enhanced             string
	}{
		{"451 at DATA", &textproto.Error{Code: 451, Msg: "4.3.0 try again later"}, true, false, 451, "4.3.0"},
		{"421 greeting, wrapped", fmt.Errorf("dial: %w", &textproto.Error{Code: 421, Msg: "service not available"}), true, false, 421, ""},
		{"535 auth", fmt.Errorf("SMTP AUTH failed: %w", &textproto.Error{Code: 535, Msg: "5.7.8 bad credentials"}), false, true, 535, "5.7.8"},
		{"554 rejected", &textproto.Error{Code: 554, Msg: "5.7.1 rejected as spam"}, false, true, 554, "5.7.1"},
		{"connection refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true, false, 0, ""},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true, false, 0, ""},
		{"STARTTLS missing", errors.New(`STARTTLS mode set to: "TLSMandatory", but target host does not support STARTTLS`), false, true, 0, ""},
		{"cancelled", context.Canceled, false, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := smtpError(StageData, tt.err)
			if IsTemporary(e) != tt.temporary || IsPermanent(e) != tt.permanent {
				t.Fatalf("IsTemporary=%v IsPermanent=%v, want %v %v (%v)", IsTemporary(e), IsPermanent(e), tt.temporary, tt.permanent, e)
			}
			if e.Code != tt.code || e.EnhancedCode != tt.enhanced {
				t.Fatalf("code %d %q, want %d %q", e.Code, e.EnhancedCode, tt.code, tt.enhanced)
			}
			if !errors.Is(e, tt.err) {
				t.Fatal("the SMTP error does not wrap its cause")
			}
		})
	}
	if IsTemporary(errors.New("other")) || IsPermanent(errors.New("other")) {
		t.Fatal("a foreign error is neither temporary nor permanent")
	}
}

func TestErrorTextHasNoAddresses(t *testing.T) {
	e := smtpError(StageRcpt, &textproto.Error{Code: 550, Msg: "5.1.1 <ana.silva@example.org>: Recipient address rejected"})
	if strings.Contains(e.Error(), "ana.silva") {
		t.Fatalf("Error() = %q names the recipient", e.Error())
	}
	if e.Error() != "mail: RCPT TO failed: SMTP 550 5.1.1: <[address]>: Recipient address rejected" {
		t.Fatalf("Error() = %q", e.Error())
	}
}

func TestRecipientError(t *testing.T) {
	permanent := &RecipientError{
		Refused:   []RecipientFailure{{Address: "gone@example.org", Code: 550, EnhancedCode: "5.1.1"}},
		Delivered: []string{"ok@example.org"},
	}
	if !IsPermanent(permanent) || IsTemporary(permanent) {
		t.Fatal("a 550 refusal should be permanent")
	}
	if got := permanent.Error(); got != "mail: 1 of 2 recipients refused (550 5.1.1)" || strings.Contains(got, "@") {
		t.Fatalf("Error() = %q", got)
	}
	mixed := &RecipientError{Refused: []RecipientFailure{{Code: 550}, {Code: 452}}}
	if !IsTemporary(mixed) || IsPermanent(mixed) {
		t.Fatal("a refusal with a 4xx among them should be temporary: retrying may reach that recipient")
	}
	if got := RefusedRecipients(fmt.Errorf("notice: %w", permanent)); len(got) != 1 || got[0].Address != "gone@example.org" {
		t.Fatalf("RefusedRecipients = %+v", got)
	}
	if RefusedRecipients(errors.New("x")) != nil {
		t.Fatal("RefusedRecipients of a foreign error should be nil")
	}
}
