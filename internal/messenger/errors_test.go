package messenger

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		code, subcode int
		transient     bool
		want          ErrorClass
	}{
		{"invalid OAuth token", 400, 190, 0, false, InvalidToken},
		{"expired token", 400, 190, 463, false, InvalidToken},
		{"API session", 400, 102, 0, false, InvalidToken},
		{"token required", 400, 104, 0, false, InvalidToken},
		{"application request limit", 400, 4, 0, false, RateLimited},
		{"too many send requests", 400, 4, 2018022, false, RateLimited},
		{"user request limit", 400, 17, 0, false, RateLimited},
		{"Page request limit", 400, 32, 0, false, RateLimited},
		{"Send API rate limit", 400, 613, 0, false, RateLimited},
		{"BUC Pages limit", 400, 80001, 0, false, RateLimited},
		{"BUC Messenger limit", 400, 80006, 0, false, RateLimited},
		{"HTTP 429 without a Graph code", 429, 0, 0, false, RateLimited},
		{"marketing minimum delay is per person", 400, 4, 2018354, false, Permanent},
		{"outside the allowed window", 400, 10, 2018278, false, OutsideWindow},
		{"outside the window without permission", 400, 10, 2018065, false, OutsideWindow},
		{"permission error without a window subcode", 400, 10, 0, false, Permanent},
		{"person isn't available", 400, 551, 0, false, Unavailable},
		{"person isn't available, with subcode", 400, 551, 1545041, false, Unavailable},
		{"message not sent, person unavailable", 400, 200, 1545041, false, Unavailable},
		{"person not receiving messages", 400, 10, 2018108, false, Unavailable},
		{"API unknown", 500, 1, 0, false, Transient},
		{"API service", 500, 2, 0, false, Transient},
		{"temporary send failure", 400, 1200, 0, false, Transient},
		{"Graph marks the error transient", 400, 100, 0, true, Transient},
		{"bad gateway without a body", 502, 0, 0, false, Transient},
		{"invalid parameter", 400, 100, 0, false, Permanent},
		{"no matching user", 400, 100, 2018001, false, Permanent},
		{"forbidden without a body", 403, 0, 0, false, Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.status, tt.code, tt.subcode, tt.transient); got != tt.want {
				t.Fatalf("classify(HTTP %d, code %d, subcode %d) = %s, want %s", tt.status, tt.code, tt.subcode, got, tt.want)
			}
		})
	}
}

func TestSendErrorText(t *testing.T) {
	e := &SendError{Code: 10, Subcode: 2018278, Class: OutsideWindow, HTTPStatus: 400, Message: "(#10) outside window"}
	want := "messenger: send failed (OutsideWindow, code 10, subcode 2018278, HTTP 400): (#10) outside window"
	if e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
	wrapped := fmt.Errorf("lead 7: %w", e)
	if ClassOf(wrapped) != OutsideWindow {
		t.Fatalf("ClassOf(wrapped) = %q, want OutsideWindow", ClassOf(wrapped))
	}
	if ClassOf(errors.New("other")) != "" {
		t.Fatal("ClassOf of a foreign error should be empty")
	}
	maybe := &SendError{Class: Transient, Message: "timeout", MaybeDelivered: true}
	if !strings.Contains(maybe.Error(), "may have been delivered") {
		t.Fatalf("Error() = %q should say the message may have been delivered", maybe.Error())
	}
}

func TestErrorClassRetryable(t *testing.T) {
	for class, want := range map[ErrorClass]bool{
		RateLimited: true, Transient: true,
		OutsideWindow: false, Unavailable: false, InvalidToken: false, Permanent: false,
	} {
		if class.Retryable() != want {
			t.Errorf("%s.Retryable() = %v, want %v", class, !want, want)
		}
	}
}
