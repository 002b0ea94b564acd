package smtptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// Message is a message the server accepted.
type Message struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To are the envelope recipients the server accepted (RCPT TO).
	To []string
	// Username is who authenticated, or "".
	Username string
	// TLS is whether the message arrived over TLS.
	TLS bool
	// Header is the parsed message header.
	Header mail.Header
	// Subject is the decoded Subject header.
	Subject string
	// ContentType is the media type of the message body, for example
	// multipart/alternative.
	ContentType string
	// Text and HTML are the decoded text/plain and text/html parts.
	Text, HTML string
	// Raw is the message as received.
	Raw []byte
	// ReceivedAt is when the server accepted the message.
	ReceivedAt time.Time
}

// parseMessage parses raw into a Message with headers and decoded bodies.
func parseMessage(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	m := Message{Header: msg.Header, Raw: raw}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Message{}, fmt.Errorf("subject: %w", err)
	}
	ct := msg.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return Message{}, fmt.Errorf("content type: %w", err)
	}
	m.ContentType = mediaType
	if err := m.collect(ct, msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return Message{}, err
	}
	return m, nil
}

// collect walks a MIME entity and keeps its first text/plain and text/html
// parts.
func (m *Message) collect(contentType, encoding string, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type: %w", err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			pct := p.Header.Get("Content-Type")
			if pct == "" {
				pct = "text/plain"
			}
			if err := m.collect(pct, p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	decoded, err := decode(encoding, body)
	if err != nil {
		return err
	}
	switch {
	case mediaType == "text/plain" && m.Text == "":
		m.Text = decoded
	case mediaType == "text/html" && m.HTML == "":
		m.HTML = decoded
	}
	return nil
}

func decode(encoding string, r io.Reader) (string, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("decoding %s: %w", encoding, err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}

// newlineStripper drops CR and LF, which base64 bodies wrap lines with.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
