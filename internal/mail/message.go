package mail

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// userAgent names the sender in the User-Agent and X-Mailer headers.
const userAgent = "inboxchat-operator"

// Message is one e-mail. Everyone in To sees the others' addresses: send
// one Message per person when that would disclose personal data (for
// example to the users of a tenant).
type Message struct {
	// To are the recipients' addresses.
	To []string
	// Subject is the subject line.
	Subject string
	// Text is the plain-text body; required.
	Text string
	// HTML is the HTML alternative; optional.
	HTML string
}

// Validate reports the first problem with m, without naming an address.
func (m Message) Validate() error {
	if len(m.To) == 0 {
		return errors.New("mail: message has no recipient")
	}
	for i, to := range m.To {
		if _, err := netmail.ParseAddress(to); err != nil {
			return fmt.Errorf("mail: recipient %d is not an e-mail address", i+1)
		}
	}
	if strings.TrimSpace(m.Subject) == "" {
		return errors.New("mail: message has no subject")
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("mail: subject contains a line break")
	}
	if m.Text == "" {
		return errors.New("mail: message has no text body")
	}
	return nil
}

// build turns m into a go-mail message from the given sender.
func (m Message) build(from string) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(from); err != nil {
		return nil, errors.New("mail: sender (from) is not an e-mail address")
	}
	if err := msg.To(m.To...); err != nil {
		return nil, errors.New("mail: a recipient is not an e-mail address")
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(messageID(from))
	msg.SetUserAgent(userAgent)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID returns a random Message-ID in the sender's domain, so that the
// ID reveals nothing about the host that sent it.
func messageID(from string) string {
	domain := "localhost"
	if a, err := netmail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok && d != "" {
			domain = d
		}
	}
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)) + "@" + domain
}
