package policynotify

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

func TestClassify(t *testing.T) {
	refusedRcpt := func(code int, enhanced string) error {
		return &mail.RecipientError{Refused: []mail.RecipientFailure{{Address: "a@example.com", Code: code, EnhancedCode: enhanced}}}
	}
	tests := []struct {
		name string
		err  error
		want outcome
	}{
		{"accepted", nil, outcome{kind: delivered}},
		{"no such mailbox", refusedRcpt(550, "5.1.1"), outcome{kind: refused, aboutRecipient: true, code: "550 5.1.1"}},
		{"mailbox busy", refusedRcpt(450, "4.2.1"), outcome{kind: refused, temporary: true, aboutRecipient: true, code: "450 4.2.1"}},
		{"relaying denied", refusedRcpt(554, "5.7.1"), outcome{kind: refused, code: "554 5.7.1"}},
		{"refusal without enhanced code", refusedRcpt(550, ""), outcome{kind: refused, code: "550"}},
		{"message refused after the data", &mail.Error{Stage: mail.StageData, Code: 554, EnhancedCode: "5.6.0"}, outcome{kind: refused, code: "554 5.6.0"}},
		{"connection lost after the data", &mail.Error{Stage: mail.StageData}, outcome{kind: unknown, code: ErrorCodeUnknownOutcome}},
		{"credentials rejected", &mail.Error{Stage: mail.StageConnect, Code: 535, EnhancedCode: "5.7.8"}, outcome{kind: serverFailure, code: "535 5.7.8"}},
		{"sender refused", &mail.Error{Stage: mail.StageMail, Code: 553}, outcome{kind: serverFailure, code: "553"}},
		{"connection lost before the data", &mail.Error{Stage: mail.StageRcpt}, outcome{kind: serverFailure, code: "network"}},
		{"cancelled while connecting", fmt.Errorf("%w (%w)", &mail.Error{Stage: mail.StageConnect}, context.Canceled), outcome{kind: cancelled}},
		{"cancelled during the data", fmt.Errorf("%w (%w)", &mail.Error{Stage: mail.StageData}, context.Canceled), outcome{kind: unknown, code: ErrorCodeUnknownOutcome}},
		{"an error of another Sender", errors.New("boom"), outcome{kind: unknown, code: ErrorCodeUnknownOutcome}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			got.err = nil
			if got != tt.want {
				t.Errorf("classify = %+v, want %+v", got, tt.want)
			}
		})
	}
}
