package mail

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/mail/smtptest"
)

const (
	testUser     = "operator"
	testPassword = "s3cret-smtp-password"
	testFrom     = "InboxChat <noreply@inboxchat.test>"
)

func testMessage(to ...string) Message {
	return Message{
		To:      to,
		Subject: "Política de privacidad 2.0",
		Text:    "Hello,\nthe tenant is ready.\n",
		HTML:    "<p>Hello,</p><p>the tenant is <strong>ready</strong>.</p>",
	}
}

func newTestMailer(t *testing.T, srv *smtptest.Server, mode TLSMode, user, password string, opts ...Option) *Mailer {
	t.Helper()
	s := Settings{Host: srv.Host(), Port: srv.Port(), Username: user, Password: password, From: testFrom, TLS: mode}
	opts = append([]Option{WithTimeout(5 * time.Second)}, opts...)
	if c := srv.ClientTLSConfig(); c != nil {
		opts = append(opts, WithTLSConfig(c))
	}
	m, err := NewMailer(s, opts...)
	if err != nil {
		t.Fatalf("NewMailer: %v", err)
	}
	return m
}

func TestMailerDelivers(t *testing.T) {
	tests := []struct {
		name     string
		server   []smtptest.Option
		mode     TLSMode
		user     string
		password string
		wantTLS  bool
	}{
		{name: "plain SMTP without auth", mode: TLSNone},
		{name: "opportunistic TLS falls back to plain SMTP", mode: TLSOpportunistic},
		{name: "opportunistic TLS uses STARTTLS when offered", server: []smtptest.Option{smtptest.WithSTARTTLS()},
			mode: TLSOpportunistic, wantTLS: true},
		{name: "mandatory STARTTLS with auth", server: []smtptest.Option{smtptest.WithSTARTTLS(), smtptest.WithAuth(testUser, testPassword)},
			mode: TLSStartTLS, user: testUser, password: testPassword, wantTLS: true},
		{name: "implicit TLS with auth", server: []smtptest.Option{smtptest.WithImplicitTLS(), smtptest.WithAuth(testUser, testPassword)},
			mode: TLSImplicit, user: testUser, password: testPassword, wantTLS: true},
		{name: "auth without TLS on loopback", server: []smtptest.Option{smtptest.WithAuth(testUser, testPassword)},
			mode: TLSNone, user: testUser, password: testPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.New(t, tt.server...)
			m := newTestMailer(t, srv, tt.mode, tt.user, tt.password)
			if err := m.Send(context.Background(), testMessage("admin@tenant.test", "Second Admin <second@tenant.test>")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs, err := srv.WaitFor(1, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			got := msgs[0]
			if got.TLS != tt.wantTLS {
				t.Fatalf("arrived with TLS=%v, want %v", got.TLS, tt.wantTLS)
			}
			if got.Username != tt.user {
				t.Fatalf("authenticated as %q, want %q", got.Username, tt.user)
			}
			if got.From != "noreply@inboxchat.test" || strings.Join(got.To, ",") != "admin@tenant.test,second@tenant.test" {
				t.Fatalf("envelope from %q to %v", got.From, got.To)
			}
			if got.Subject != "Política de privacidad 2.0" {
				t.Fatalf("subject %q", got.Subject)
			}
			if got.ContentType != "multipart/alternative" {
				t.Fatalf("content type %q, want multipart/alternative", got.ContentType)
			}
			if got.Text != "Hello,\nthe tenant is ready.\n" || !strings.Contains(got.HTML, "<strong>ready</strong>") {
				t.Fatalf("text %q html %q", got.Text, got.HTML)
			}
			if h := got.Header.Get("From"); !strings.Contains(h, "noreply@inboxchat.test") {
				t.Fatalf("From header %q", h)
			}
			if id := got.Header.Get("Message-Id"); !strings.HasSuffix(id, "@inboxchat.test>") {
				t.Fatalf("Message-ID %q should be in the sender's domain", id)
			}
			if ua := got.Header.Get("X-Mailer"); ua != "inboxchat-operator" {
				t.Fatalf("X-Mailer %q", ua)
			}
		})
	}
}

func TestMailerRefusesUnsafeConnections(t *testing.T) {
	t.Run("mandatory STARTTLS against a server without it", func(t *testing.T) {
		srv := smtptest.New(t)
		m := newTestMailer(t, srv, TLSStartTLS, "", "")
		err := m.Send(context.Background(), testMessage("admin@tenant.test"))
		if !IsPermanent(err) || IsTemporary(err) {
			t.Fatalf("Send = %v, want a permanent configuration error", err)
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("the message was sent without TLS")
		}
	})

	t.Run("a certificate nobody vouches for", func(t *testing.T) {
		srv := smtptest.New(t, smtptest.WithSTARTTLS())
		m, err := NewMailer(Settings{Host: srv.Host(), Port: srv.Port(), From: testFrom, TLS: TLSStartTLS}, WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		err = m.Send(context.Background(), testMessage("admin@tenant.test"))
		if !IsPermanent(err) {
			t.Fatalf("Send = %v, want a permanent certificate error", err)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		srv := smtptest.New(t, smtptest.WithAuth(testUser, testPassword))
		m := newTestMailer(t, srv, TLSNone, testUser, "wrong-password")
		err := m.Send(context.Background(), testMessage("admin@tenant.test"))
		var e *Error
		if !errors.As(err, &e) || e.Code != 535 || !IsPermanent(err) {
			t.Fatalf("Send = %v, want a permanent 535", err)
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Fatal("the error shows the password")
		}
		if srv.AuthFailures() != 1 {
			t.Fatalf("server saw %d failed AUTH attempts, want 1", srv.AuthFailures())
		}
	})

	t.Run("no credentials where the server requires them", func(t *testing.T) {
		srv := smtptest.New(t, smtptest.WithAuth(testUser, testPassword))
		m := newTestMailer(t, srv, TLSNone, "", "")
		err := m.Send(context.Background(), testMessage("admin@tenant.test"))
		var e *Error
		if !errors.As(err, &e) || e.Code != 530 || e.Stage != StageMail || !IsPermanent(err) {
			t.Fatalf("Send = %v, want a permanent 530 at MAIL FROM", err)
		}
	})
}

func TestMailerClassifiesTemporaryFailures(t *testing.T) {
	t.Run("451 then success", func(t *testing.T) {
		srv := smtptest.New(t)
		srv.FailMessages(1, 451)
		m := newTestMailer(t, srv, TLSNone, "", "")
		err := m.Send(context.Background(), testMessage("admin@tenant.test"))
		var e *Error
		if !errors.As(err, &e) || e.Code != 451 || e.Stage != StageData || e.EnhancedCode != "4.3.0" {
			t.Fatalf("first Send = %v, want 451 4.3.0 at DATA", err)
		}
		if !IsTemporary(err) || IsPermanent(err) {
			t.Fatalf("a 451 should be temporary: %v", err)
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("the refused message was recorded")
		}
		if err := m.Send(context.Background(), testMessage("admin@tenant.test")); err != nil {
			t.Fatalf("second Send = %v, want success", err)
		}
		if n := len(srv.Messages()); n != 1 {
			t.Fatalf("%d messages delivered, want 1", n)
		}
	})

	t.Run("nobody listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		m, err := NewMailer(Settings{Host: "127.0.0.1", Port: port, From: testFrom, TLS: TLSNone}, WithTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		err = m.Send(context.Background(), testMessage("admin@tenant.test"))
		if !IsTemporary(err) {
			t.Fatalf("Send = %v, want a temporary network error", err)
		}
	})

	t.Run("a cancelled send is neither temporary nor permanent", func(t *testing.T) {
		srv := smtptest.New(t)
		m := newTestMailer(t, srv, TLSNone, "", "")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := m.Send(ctx, testMessage("admin@tenant.test"))
		if err == nil || IsTemporary(err) || IsPermanent(err) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Send = %v, want a cancellation", err)
		}
	})
}

func TestMailerReportsRefusedRecipients(t *testing.T) {
	t.Run("550 for one of two recipients", func(t *testing.T) {
		srv := smtptest.New(t)
		srv.RejectRecipient("gone@tenant.test", 550)
		m := newTestMailer(t, srv, TLSNone, "", "")
		err := m.Send(context.Background(), testMessage("gone@tenant.test", "admin@tenant.test"))
		var re *RecipientError
		if !errors.As(err, &re) {
			t.Fatalf("Send = %v, want a *RecipientError", err)
		}
		if !IsPermanent(err) || IsTemporary(err) {
			t.Fatalf("a 550 refusal should be permanent: %v", err)
		}
		refused := RefusedRecipients(err)
		if len(refused) != 1 || refused[0].Address != "gone@tenant.test" || refused[0].Code != 550 || refused[0].EnhancedCode != "5.1.1" {
			t.Fatalf("refused = %+v", refused)
		}
		if strings.Join(re.Delivered, ",") != "admin@tenant.test" {
			t.Fatalf("delivered = %v", re.Delivered)
		}
		if strings.Contains(err.Error(), "@") {
			t.Fatalf("the error text names an address: %q", err)
		}
		msgs, werr := srv.WaitFor(1, 5*time.Second)
		if werr != nil {
			t.Fatal(werr)
		}
		if strings.Join(msgs[0].To, ",") != "admin@tenant.test" {
			t.Fatalf("the other recipient should still get the message; envelope to %v", msgs[0].To)
		}
	})

	t.Run("450 for one recipient is temporary", func(t *testing.T) {
		srv := smtptest.New(t)
		srv.RejectRecipient("busy@tenant.test", 450)
		m := newTestMailer(t, srv, TLSNone, "", "")
		err := m.Send(context.Background(), testMessage("busy@tenant.test", "admin@tenant.test"))
		if !IsTemporary(err) || IsPermanent(err) {
			t.Fatalf("Send = %v, want a temporary recipient error", err)
		}
	})

	t.Run("every recipient refused sends nothing", func(t *testing.T) {
		srv := smtptest.New(t)
		srv.RejectRecipient("gone@tenant.test", 550)
		m := newTestMailer(t, srv, TLSNone, "", "")
		err := m.Send(context.Background(), testMessage("gone@tenant.test"))
		var re *RecipientError
		if !errors.As(err, &re) || len(re.Delivered) != 0 || !IsPermanent(err) {
			t.Fatalf("Send = %v, want a permanent *RecipientError with no delivery", err)
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("a message without accepted recipients was delivered")
		}
		srv.RejectRecipient("gone@tenant.test", 0)
		if err := m.Send(context.Background(), testMessage("gone@tenant.test")); err != nil {
			t.Fatalf("after lifting the refusal: %v", err)
		}
	})
}

func TestMessageValidate(t *testing.T) {
	ok := testMessage("a@example.com")
	tests := []struct {
		name   string
		mutate func(*Message)
		want   string
	}{
		{"no recipient", func(m *Message) { m.To = nil }, "no recipient"},
		{"bad recipient", func(m *Message) { m.To = []string{"a@example.com", "not an address"} }, "recipient 2 is not"},
		{"no subject", func(m *Message) { m.Subject = " " }, "no subject"},
		{"subject with a line break", func(m *Message) { m.Subject = "a\r\nBcc: x@example.com" }, "line break"},
		{"no text", func(m *Message) { m.Text = "" }, "no text body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.mutate(&m)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid message: %v", err)
	}
	if _, err := NewMailer(Settings{Host: "mx"}); err == nil {
		t.Fatal("NewMailer without a sender should fail")
	}
	m, err := NewMailer(Settings{Host: "127.0.0.1", Port: 1, From: testFrom})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), Message{Subject: "x", Text: "y"})
	var e *Error
	if !errors.As(err, &e) || e.Stage != StageCompose || !IsPermanent(err) || err.Error() != "mail: compose failed: message has no recipient" {
		t.Fatalf("Send of an invalid message = %v, want a permanent compose error before connecting", err)
	}
}
