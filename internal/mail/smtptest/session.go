package smtptest

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

type backend struct {
	server *Server
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{server: b.server, conn: c}, nil
}

// session is one SMTP connection's state.
type session struct {
	server   *Server
	conn     *smtp.Conn
	username string
	from     string
	to       []string
}

var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errAuthFailed   = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
)

func (s *session) authRequired() bool {
	return s.server.cfg.username != "" && s.username == ""
}

// AuthMechanisms offers PLAIN when the server requires authentication.
func (s *session) AuthMechanisms() []string {
	if s.server.cfg.username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.server.cfg.username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.server.cfg.username || password != s.server.cfg.password ||
			(identity != "" && identity != username) {
			s.server.authFailed()
			return errAuthFailed
		}
		s.username = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.authRequired() {
		return errAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.authRequired() {
		return errAuthRequired
	}
	if code := s.server.rcptCode(to); code != 0 {
		class := code / 100
		return &smtp.SMTPError{
			Code:         code,
			EnhancedCode: smtp.EnhancedCode{class, 1, 1},
			Message:      fmt.Sprintf("<%s>: recipient refused", to),
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if s.authRequired() {
		return errAuthRequired
	}
	var raw bytes.Buffer
	if _, err := io.Copy(&raw, r); err != nil {
		return err
	}
	if code := s.server.takeFailure(); code != 0 {
		return &smtp.SMTPError{
			Code:         code,
			EnhancedCode: smtp.EnhancedCode{code / 100, 3, 0},
			Message:      "message refused for testing, try again later",
		}
	}
	_, isTLS := s.conn.TLSConnectionState()
	m, err := parseMessage(raw.Bytes())
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparsable message: " + err.Error()}
	}
	m.From = s.from
	m.To = append([]string(nil), s.to...)
	m.Username = s.username
	m.TLS = isTLS
	m.ReceivedAt = time.Now()
	s.server.record(m)
	return nil
}

func (s *session) Reset() {
	s.from = ""
	s.to = nil
}

func (s *session) Logout() error { return nil }
