package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// DefaultTimeout bounds connecting and every SMTP command.
const DefaultTimeout = 30 * time.Second

// authPreference is the order in which AUTH mechanisms are chosen from those
// the server offers. PLAIN and LOGIN refuse to run over an unencrypted
// connection unless the server is on loopback.
var authPreference = []gomail.SMTPAuthType{
	gomail.SMTPAuthSCRAMSHA256PLUS,
	gomail.SMTPAuthSCRAMSHA256,
	gomail.SMTPAuthSCRAMSHA1PLUS,
	gomail.SMTPAuthSCRAMSHA1,
	gomail.SMTPAuthPlain,
	gomail.SMTPAuthLogin,
}

// Mailer sends Messages through one SMTP server. It is safe for concurrent
// use; every Send opens its own connection.
type Mailer struct {
	settings  Settings
	tlsConfig *tls.Config
	timeout   time.Duration
	helo      string
}

// Option changes how a Mailer connects.
type Option func(*Mailer)

// WithTLSConfig sets the TLS configuration, for example to trust a private
// CA. Its ServerName defaults to the SMTP host.
func WithTLSConfig(c *tls.Config) Option {
	return func(m *Mailer) { m.tlsConfig = c.Clone() }
}

// WithTimeout bounds connecting and every SMTP command. Default
// DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(m *Mailer) { m.timeout = d }
}

// WithHELO sets the name the Mailer greets the server with. Default: the
// local host name.
func WithHELO(name string) Option {
	return func(m *Mailer) { m.helo = name }
}

// NewMailer checks s and returns a Mailer.
func NewMailer(s Settings, opts ...Option) (*Mailer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	m := &Mailer{settings: s.withDefaults(), timeout: DefaultTimeout}
	for _, o := range opts {
		o(m)
	}
	if m.tlsConfig == nil {
		m.tlsConfig = &tls.Config{}
	}
	if m.tlsConfig.ServerName == "" {
		m.tlsConfig.ServerName = m.settings.Host
	}
	if m.tlsConfig.MinVersion == 0 {
		m.tlsConfig.MinVersion = tls.VersionTLS12
	}
	if m.timeout <= 0 {
		m.timeout = DefaultTimeout
	}
	return m, nil
}

// Send delivers msg in one SMTP transaction. It returns nil when the server
// accepted the message for every recipient; a *RecipientError when it
// refused some recipients at RCPT TO (the others still get the message);
// or an *Error (with StageCompose, and permanent, when msg itself is
// invalid). Use IsTemporary and IsPermanent to decide about retrying.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	if err := msg.Validate(); err != nil {
		return composeError(err)
	}
	gm, err := msg.build(m.settings.From)
	if err != nil {
		return composeError(err)
	}
	from, err := gm.GetSender(false)
	if err != nil {
		return composeError(errors.New("mail: sender (from) is not an e-mail address"))
	}
	rcpts, err := gm.GetRecipients()
	if err != nil {
		return composeError(errors.New("mail: a recipient is not an e-mail address"))
	}

	dialer := &trackingDialer{tlsConfig: m.tlsConfig, implicitTLS: m.settings.TLS == TLSImplicit}
	client, err := gomail.NewClient(m.settings.Host, m.clientOptions(dialer)...)
	if err != nil {
		return smtpError(StageConnect, err)
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		// go-mail leaves the connection open when EHLO, STARTTLS or AUTH
		// fail.
		dialer.close()
		return m.failed(ctx, StageConnect, err)
	}
	// Cancelling ctx aborts the transaction by closing the connection.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer func() { _ = client.CloseWithSMTPClient(conn) }()

	if err := conn.Mail(from); err != nil {
		return m.failed(ctx, StageMail, err)
	}
	refused, accepted, err := m.recipients(conn, rcpts)
	if err != nil {
		return m.failed(ctx, StageRcpt, err)
	}
	if len(accepted) == 0 {
		_ = conn.Reset()
		return &RecipientError{Refused: refused}
	}
	w, err := conn.Data()
	if err != nil {
		return m.failed(ctx, StageData, err)
	}
	if _, err := gm.WriteTo(w); err != nil {
		_ = w.Close()
		return m.failed(ctx, StageData, err)
	}
	if err := w.Close(); err != nil {
		return m.failed(ctx, StageData, err)
	}
	if len(refused) > 0 {
		return &RecipientError{Refused: refused, Delivered: accepted}
	}
	return nil
}

// recipients sends RCPT TO for every address. A refusal by SMTP reply is
// recorded per address; any other failure ends the transaction.
func (m *Mailer) recipients(conn *smtp.Client, rcpts []string) (refused []RecipientFailure, accepted []string, err error) {
	for _, rcpt := range rcpts {
		err := conn.Rcpt(rcpt)
		// go-mail gives addresses in angle brackets, as RCPT TO wants them.
		addr := strings.TrimSuffix(strings.TrimPrefix(rcpt, "<"), ">")
		if err == nil {
			accepted = append(accepted, addr)
			continue
		}
		e := smtpError(StageRcpt, err)
		if e.Code == 0 {
			return nil, nil, err
		}
		refused = append(refused, RecipientFailure{Address: addr, Code: e.Code, EnhancedCode: e.EnhancedCode})
	}
	return refused, accepted, nil
}

// failed classifies err, preferring ctx's error when ctx ended the send.
func (m *Mailer) failed(ctx context.Context, stage string, err error) error {
	if ctx.Err() != nil {
		return &Error{Stage: stage, message: "cancelled", err: fmt.Errorf("%w (%w)", context.Cause(ctx), err)}
	}
	return smtpError(stage, err)
}

func (m *Mailer) clientOptions(d *trackingDialer) []gomail.Option {
	s := m.settings
	opts := []gomail.Option{
		gomail.WithPort(s.Port),
		gomail.WithTimeout(m.timeout),
		gomail.WithTLSConfig(m.tlsConfig),
		gomail.WithDialContextFunc(d.dial),
	}
	switch s.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.Username != "" {
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(authPreference...),
			gomail.WithUsername(s.Username),
			gomail.WithPassword(s.Password))
	}
	if m.helo != "" {
		opts = append(opts, gomail.WithHELO(m.helo))
	}
	return opts
}

// trackingDialer dials the SMTP server, with TLS from the start in implicit
// mode, and remembers the connection so that it can be closed when go-mail
// gives up on it without closing it.
type trackingDialer struct {
	tlsConfig   *tls.Config
	implicitTLS bool
	conn        net.Conn
}

func (d *trackingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := &net.Dialer{}
	var (
		c   net.Conn
		err error
	)
	if d.implicitTLS {
		c, err = (&tls.Dialer{NetDialer: nd, Config: d.tlsConfig}).DialContext(ctx, network, addr)
	} else {
		c, err = nd.DialContext(ctx, network, addr)
	}
	if err == nil {
		d.conn = c
	}
	return c, err
}

func (d *trackingDialer) close() {
	if d.conn != nil {
		_ = d.conn.Close()
	}
}
