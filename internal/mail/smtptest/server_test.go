package smtptest

import (
	"crypto/tls"
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

const multipartBody = "From: Sender <sender@example.test>\r\n" +
	"To: rcpt@example.test\r\n" +
	"Subject: =?UTF-8?q?Caf=C3=A9_notice?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Caf=C3=A9 is open.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+Q2Fmw6kgaXMg\r\nb3Blbi48L3A+\r\n" +
	"--b1--\r\n"

func TestServerRecordsAndParses(t *testing.T) {
	s := New(t)
	if err := smtp.SendMail(s.Addr(), nil, "sender@example.test", []string{"rcpt@example.test"}, []byte(multipartBody)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	msgs, err := s.WaitFor(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.From != "sender@example.test" || len(m.To) != 1 || m.To[0] != "rcpt@example.test" {
		t.Fatalf("envelope %q -> %v", m.From, m.To)
	}
	if m.Subject != "Café notice" || m.ContentType != "multipart/alternative" {
		t.Fatalf("subject %q, content type %q", m.Subject, m.ContentType)
	}
	if m.Text != "Café is open." || m.HTML != "<p>Café is open.</p>" {
		t.Fatalf("text %q, html %q", m.Text, m.HTML)
	}
	if m.TLS || m.Username != "" || len(m.Raw) == 0 || m.ReceivedAt.IsZero() {
		t.Fatalf("metadata %+v", m)
	}
	if s.Host() != "127.0.0.1" || s.Port() == 0 || s.ClientTLSConfig() != nil {
		t.Fatalf("host %q port %d", s.Host(), s.Port())
	}
}

func TestServerRequiresAuth(t *testing.T) {
	s := New(t, WithAuth("u", "p"))
	body := []byte("Subject: x\r\n\r\nhi\r\n")
	err := smtp.SendMail(s.Addr(), nil, "a@example.test", []string{"b@example.test"}, body)
	assertCode(t, err, 530)
	err = smtp.SendMail(s.Addr(), smtp.PlainAuth("", "u", "wrong", "127.0.0.1"), "a@example.test", []string{"b@example.test"}, body)
	assertCode(t, err, 535)
	if err := smtp.SendMail(s.Addr(), smtp.PlainAuth("", "u", "p", "127.0.0.1"), "a@example.test", []string{"b@example.test"}, body); err != nil {
		t.Fatalf("with the right credentials: %v", err)
	}
	if got := s.Messages(); len(got) != 1 || got[0].Username != "u" {
		t.Fatalf("messages %+v", got)
	}
	if s.AuthFailures() != 1 {
		t.Fatalf("AuthFailures = %d, want 1", s.AuthFailures())
	}
}

func TestServerTLS(t *testing.T) {
	t.Run("STARTTLS", func(t *testing.T) {
		s := New(t, WithSTARTTLS())
		c, err := smtp.Dial(s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Fatal("STARTTLS is not offered")
		}
		if err := c.StartTLS(s.ClientTLSConfig()); err != nil {
			t.Fatalf("StartTLS with the server's trust: %v", err)
		}
		sendOn(t, c)
		if m, err := s.WaitFor(1, 5*time.Second); err != nil || !m[0].TLS {
			t.Fatalf("message over STARTTLS: %v %+v", err, m)
		}
	})
	t.Run("implicit TLS", func(t *testing.T) {
		s := New(t, WithImplicitTLS())
		conn, err := tls.Dial("tcp", s.Addr(), s.ClientTLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		c, err := smtp.NewClient(conn, s.Host())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sendOn(t, c)
		if m, err := s.WaitFor(1, 5*time.Second); err != nil || !m[0].TLS {
			t.Fatalf("message over TLS: %v %+v", err, m)
		}
	})
}

func TestServerProgrammedFailures(t *testing.T) {
	s := New(t)
	body := []byte("Subject: x\r\n\r\nhi\r\n")
	s.RejectRecipient("Gone@Example.test", 550)
	assertCode(t, smtp.SendMail(s.Addr(), nil, "a@example.test", []string{"gone@example.test"}, body), 550)
	s.RejectRecipient("gone@example.test", 0)

	s.FailMessages(2, 451)
	for range 2 {
		assertCode(t, smtp.SendMail(s.Addr(), nil, "a@example.test", []string{"b@example.test"}, body), 451)
	}
	if err := smtp.SendMail(s.Addr(), nil, "a@example.test", []string{"gone@example.test"}, body); err != nil {
		t.Fatalf("after the programmed failures: %v", err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Fatalf("%d messages recorded, want only the accepted one", n)
	}
	if _, err := s.WaitFor(2, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("WaitFor beyond what arrived = %v, want a timeout naming the count", err)
	}
}

func sendOn(t *testing.T, c *smtp.Client) {
	t.Helper()
	if err := c.Mail("a@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("Subject: tls\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

func assertCode(t *testing.T, err error, code int) {
	t.Helper()
	var tp *textproto.Error
	if !errors.As(err, &tp) || tp.Code != code {
		t.Fatalf("error %v, want SMTP %d", err, code)
	}
}
