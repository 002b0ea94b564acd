package broadcast

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

// specOnly is a valid spec without the worker's fields.
func specOnly() Config {
	return Config{Text: "Hi {{.FirstName}}!", MessagingType: messenger.MessagingTypeUpdate}
}

func TestValidTemplates(t *testing.T) {
	for _, text := range []string{
		"Spring sale!",
		"Hi {{.FirstName}} {{.LastName}}",
		"{{if .FirstName}}Hi {{.FirstName}}{{else}}Hi there{{end}}!",
		"{{with .FirstName}}Hi {{.}}{{end}}",
		"Hi {{$.LastName}}",
		`{{printf "%.10s" .FirstName}} {{len .LastName}}`,
		"{{/* a comment */}}Hello",
	} {
		if err := specOnly().withText(text).ValidateSpec(); err != nil {
			t.Errorf("ValidateSpec(%q) = %v, want nil", text, err)
		}
	}
}

func (c Config) withText(s string) Config { c.Text = s; return c }

func TestInvalidSpecsAreRefusedWithTheirField(t *testing.T) {
	tests := []struct {
		name          string
		change        func(c *Config)
		field, reason string
	}{
		{"empty text", func(c *Config) { c.Text = "  " }, "spec.message.text", "TextEmpty"},
		{"parse error", func(c *Config) { c.Text = "Hi {{.FirstName" }, "spec.message.text", "TemplateParseError"},
		{"unknown field", func(c *Config) { c.Text = "Hi {{.Email}}" }, "spec.message.text", "TemplateUnknownField"},
		{"field of a field", func(c *Config) { c.Text = "{{.FirstName.Initial}}" }, "spec.message.text", "TemplateUnknownField"},
		{"root variable field", func(c *Config) { c.Text = "{{$.PSID}}" }, "spec.message.text", "TemplateUnknownField"},
		{"unknown function", func(c *Config) { c.Text = "{{upper .FirstName}}" }, "spec.message.text", "TemplateParseError"},
		{"defines a template", func(c *Config) { c.Text = `{{define "x"}}y{{end}}Hi` }, "spec.message.text", "TemplateDefinesTemplates"},
		{"calls a template", func(c *Config) { c.Text = `Hi {{template "x"}}` }, "spec.message.text", "TemplateUnknownField"},
		{"fails when rendered", func(c *Config) { c.Text = "{{with .FirstName}}{{.FirstName}}{{end}}" }, "spec.message.text", "TemplateExecError"},
		{"too long with the link", func(c *Config) { c.Text = strings.Repeat("x", messenger.MaxTextLength-50) }, "spec.message.text", "MessageInvalid"},
		{"too many buttons", func(c *Config) {
			b := messenger.Button{Title: "Go", URL: "https://example.com"}
			c.Buttons = []messenger.Button{b, b, b, b}
		}, "spec.message.buttons", "ButtonsInvalid"},
		{"tag missing", func(c *Config) { c.MessagingType = messenger.MessagingTypeMessageTag }, "spec.tag", "TagRequired"},
		{"unknown tag", func(c *Config) {
			c.MessagingType, c.Tag = messenger.MessagingTypeMessageTag, "PROMOTION"
		}, "spec.tag", "UnknownTag"},
		{"tag without MESSAGE_TAG", func(c *Config) { c.Tag = "ACCOUNT_UPDATE" }, "spec.tag", "TagNotAllowed"},
		{"unknown messaging type", func(c *Config) { c.MessagingType = "PROMO" }, "spec.messagingType", "UnknownMessagingType"},
		{"duplicate tag", func(c *Config) { c.Tags = []string{"vip", "vip"} }, "spec.audience.tags", "DuplicateTag"},
		{"empty tag", func(c *Config) { c.ExcludeTags = []string{""} }, "spec.audience.excludeTags", "InvalidTag"},
		{"included and excluded", func(c *Config) {
			c.Tags, c.ExcludeTags = []string{"vip"}, []string{"vip"}
		}, "spec.audience", "TagIncludedAndExcluded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := specOnly()
			tt.change(&c)
			assertInvalid(t, c.ValidateSpec(), tt.field, tt.reason)
		})
	}
}

func TestInvalidWorkerConfigIsRefused(t *testing.T) {
	valid := func() Config {
		c := specOnly()
		c.Engine, c.Keyring, c.UnsubscribeKey = "postgres", fakeOpener{}, make([]byte, 32)
		c.Tenant, c.Host, c.Broadcast, c.PageID, c.Rate = "acme", "acme.example.com", "sale", "1", 300
		c.Client = &messenger.Client{}
		return c
	}
	tests := []struct {
		name          string
		change        func(c *Config)
		field, reason string
	}{
		{"host with scheme", func(c *Config) { c.Host = "https://acme.example.com" }, "Config.Host", "InvalidHost"},
		{"host with path", func(c *Config) { c.Host = "acme.example.com/x" }, "Config.Host", "InvalidHost"},
		{"tenant not a name", func(c *Config) { c.Tenant = "Acme Corp" }, "Config.Tenant", "CannotSignUnsubscribeLink"},
		{"short key", func(c *Config) { c.UnsubscribeKey = []byte("short") }, "Config.UnsubscribeKey", "UnsubscribeKeyMissing"},
		{"rate zero", func(c *Config) { c.Rate = 0 }, "spec.messagesPerSecond", "InvalidRate"},
		{"rate above Messenger's", func(c *Config) { c.Rate = 301 }, "spec.messagesPerSecond", "InvalidRate"},
		{"failure ratio above 1", func(c *Config) { c.MaxFailureRatio = 1.5 }, "spec.maxFailureRatio", "InvalidFailureRatio"},
		{"no sender", func(c *Config) { c.Client = nil }, "Config.Client", "ClientMissing"},
		{"no page", func(c *Config) { c.PageID = "" }, "Config.PageID", "PageIDMissing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			_, err := New(c)
			assertInvalid(t, err, tt.field, tt.reason)
		})
	}
}

type fakeOpener struct{}

func (fakeOpener) Open(b, _ []byte) ([]byte, error) { return b, nil }

// assertInvalid fails unless err is an Invalid error with a problem in
// field for reason.
func assertInvalid(t *testing.T, err error, field, reason string) {
	t.Helper()
	if ClassOf(err) != Invalid {
		t.Fatalf("error = %v, want class Invalid", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonInvalidSpec {
		t.Fatalf("error = %#v, want an *Error with reason %s", err, ReasonInvalidSpec)
	}
	for _, p := range problems(err) {
		if p.Field == field && p.Reason == reason {
			if !strings.Contains(err.Error(), p.Message) {
				t.Fatalf("the error text %q does not say %q", err.Error(), p.Message)
			}
			return
		}
	}
	t.Fatalf("error = %v, want a problem in %s with reason %s", err, field, reason)
}

// problems returns the *ValidationError values inside err.
func problems(err error) []*ValidationError {
	var out []*ValidationError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *ValidationError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

func TestABadTemplateFailsBeforeAnySend(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.addPlainLeads(t, 3)
		cfg := fx.config(t, "broken")
		cfg.Text = "Hi {{.Nickname}}"
		if _, err := New(cfg); ClassOf(err) != Invalid {
			t.Fatalf("New = %v, want Invalid", err)
		}
		cfg = fx.config(t, "untagged")
		cfg.MessagingType = messenger.MessagingTypeMessageTag
		if _, err := New(cfg); ClassOf(err) != Invalid {
			t.Fatalf("New without a tag = %v, want Invalid", err)
		}
		if st := fx.emu.Stats(); st.Requests != 0 {
			t.Fatalf("the Send API got %d requests", st.Requests)
		}
		if len(fx.ledger(t, "broken"))+len(fx.ledger(t, "untagged")) != 0 {
			t.Fatal("an invalid broadcast froze an audience")
		}
		_ = context.Background
	})
}
