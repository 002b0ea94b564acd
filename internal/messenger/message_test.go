package messenger

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestOutgoingValidate(t *testing.T) {
	valid := Outgoing{PSID: "psid-1", MessagingType: MessagingTypeUpdate, Text: "hello"}
	tests := []struct {
		name    string
		mutate  func(*Outgoing)
		wantErr string
	}{
		{"a plain update is valid", func(*Outgoing) {}, ""},
		{"a tagged message is valid", func(m *Outgoing) { m.MessagingType, m.Tag = MessagingTypeMessageTag, "ACCOUNT_UPDATE" }, ""},
		{"three buttons are valid", func(m *Outgoing) {
			m.Buttons = []Button{{"a", "https://x.test/a"}, {"b", "https://x.test/b"}, {"c", "http://x.test/c"}}
		}, ""},
		{"no recipient", func(m *Outgoing) { m.PSID = "" }, "PSID is empty"},
		{"unknown messaging type", func(m *Outgoing) { m.MessagingType = "PROMO" }, "unknown messaging type"},
		{"empty messaging type", func(m *Outgoing) { m.MessagingType = "" }, "unknown messaging type"},
		{"MESSAGE_TAG without tag", func(m *Outgoing) { m.MessagingType = MessagingTypeMessageTag }, "needs a tag"},
		{"tag without MESSAGE_TAG", func(m *Outgoing) { m.Tag = "ACCOUNT_UPDATE" }, "only allowed with"},
		{"empty text", func(m *Outgoing) { m.Text = "" }, "text is empty"},
		{"text too long", func(m *Outgoing) { m.Text = strings.Repeat("é", MaxTextLength+1) }, "more than 2000"},
		{"template text too long", func(m *Outgoing) {
			m.Text = strings.Repeat("a", MaxTemplateTextLength+1)
			m.Buttons = []Button{{"a", "https://x.test"}}
		}, "more than 640"},
		{"four buttons", func(m *Outgoing) {
			m.Buttons = make([]Button, 4)
			for i := range m.Buttons {
				m.Buttons[i] = Button{"b", "https://x.test"}
			}
		}, "at most 3"},
		{"button without title", func(m *Outgoing) { m.Buttons = []Button{{"", "https://x.test"}} }, "has no title"},
		{"button title too long", func(m *Outgoing) { m.Buttons = []Button{{strings.Repeat("t", 21), "https://x.test"}} }, "more than 20"},
		{"button with relative URL", func(m *Outgoing) { m.Buttons = []Button{{"b", "/unsubscribe"}} }, "absolute http(s) URL"},
		{"button with javascript URL", func(m *Outgoing) { m.Buttons = []Button{{"b", "javascript:alert(1)"}} }, "absolute http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid
			tt.mutate(&m)
			err := m.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), m.PSID) && m.PSID != "" {
				t.Fatalf("Validate() error %q contains the PSID", err)
			}
		})
	}
}

func TestOutgoingWireFormat(t *testing.T) {
	t.Run("a text message", func(t *testing.T) {
		got := mustJSON(t, Outgoing{PSID: "123", MessagingType: MessagingTypeResponse, Text: "hi"}.wire())
		want := `{"recipient":{"id":"123"},"messaging_type":"RESPONSE","message":{"text":"hi"}}`
		if got != want {
			t.Fatalf("body = %s\nwant   %s", got, want)
		}
	})
	t.Run("a tagged button template", func(t *testing.T) {
		m := Outgoing{
			PSID: "123", MessagingType: MessagingTypeMessageTag, Tag: "ACCOUNT_UPDATE", Text: "news",
			Buttons: []Button{{Title: "Unsubscribe", URL: "https://t.test/unsubscribe/tok"}},
		}
		got := mustJSON(t, m.wire())
		want := `{"recipient":{"id":"123"},"messaging_type":"MESSAGE_TAG","tag":"ACCOUNT_UPDATE",` +
			`"message":{"attachment":{"type":"template","payload":{"template_type":"button","text":"news",` +
			`"buttons":[{"type":"web_url","url":"https://t.test/unsubscribe/tok","title":"Unsubscribe"}]}}}}`
		if got != want {
			t.Fatalf("body = %s\nwant   %s", got, want)
		}
		var back sendRequest
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Fatal(err)
		}
		if rt := back.outgoing(); rt.Text != m.Text || len(rt.Buttons) != 1 || rt.Buttons[0] != m.Buttons[0] || rt.Tag != m.Tag {
			t.Fatalf("round trip = %+v, want %+v", rt, m)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
