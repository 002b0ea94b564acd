// Package smtptest runs an in-process SMTP server on 127.0.0.1 for tests.
// It records every message it accepts (envelope, headers and decoded text
// and HTML bodies), can require AUTH PLAIN, can offer STARTTLS or speak
// implicit TLS with a self-signed certificate, and can be told to refuse
// recipients or messages with chosen SMTP codes.
package smtptest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// T is the part of testing.TB the server needs; *testing.T, *testing.B and
// Ginkgo's GinkgoT() satisfy it.
type T interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Option configures a Server.
type Option func(*config)

type config struct {
	username, password string
	startTLS           bool
	implicitTLS        bool
}

// WithAuth requires AUTH PLAIN with these credentials before MAIL FROM.
// Authentication is allowed without TLS, since the server is on loopback.
func WithAuth(username, password string) Option {
	return func(c *config) { c.username, c.password = username, password }
}

// WithSTARTTLS offers STARTTLS with a self-signed certificate for 127.0.0.1
// and localhost; clients trust it through ClientTLSConfig.
func WithSTARTTLS() Option {
	return func(c *config) { c.startTLS = true }
}

// WithImplicitTLS speaks TLS from the first byte (SMTPS) with the
// self-signed certificate.
func WithImplicitTLS() Option {
	return func(c *config) { c.implicitTLS = true }
}

// Server is an SMTP server on 127.0.0.1. Its methods are safe for concurrent
// use.
type Server struct {
	cfg      config
	srv      *smtp.Server
	ln       net.Listener
	certPool *x509.CertPool
	done     chan struct{}

	mu           sync.Mutex
	changed      chan struct{}
	messages     []Message
	rejectRcpt   map[string]int
	failMessages int
	failCode     int
	authFailures int
}

// New starts a Server and stops it when the test ends.
func New(t T, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		rejectRcpt: make(map[string]int),
		changed:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, o := range opts {
		o(&s.cfg)
	}

	s.srv = smtp.NewServer(&backend{server: s})
	s.srv.Domain = "smtptest.localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.MaxRecipients = 100
	s.srv.ErrorLog = log.New(io.Discard, "", 0)

	var tlsConfig *tls.Config
	if s.cfg.startTLS || s.cfg.implicitTLS {
		cert, pool, err := selfSignedCertificate()
		if err != nil {
			t.Fatalf("smtptest: creating a certificate: %v", err)
		}
		s.certPool = pool
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.cfg.startTLS {
		s.srv.TLSConfig = tlsConfig
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listening: %v", err)
	}
	if s.cfg.implicitTLS {
		ln = tls.NewListener(ln, tlsConfig)
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Close stops the server. It is called when the test ends.
func (s *Server) Close() error {
	err := s.srv.Close()
	// go-smtp only closes listeners Serve has registered; close ours too in
	// case Serve has not started yet.
	_ = s.ln.Close()
	<-s.done
	if err == smtp.ErrServerClosed {
		return nil
	}
	return err
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the server's IP address, 127.0.0.1.
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.Addr())
	return h
}

// Port is the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// ClientTLSConfig returns a TLS configuration that trusts the server's
// certificate, or nil when the server has no TLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.certPool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.certPool, ServerName: s.Host(), MinVersion: tls.VersionTLS12}
}

// RejectRecipient refuses addr at RCPT TO with code (for example 550 for a
// permanent or 450 for a temporary refusal); code 0 accepts addr again.
// Addresses are compared case-insensitively.
func (s *Server) RejectRecipient(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(addr)
	if code == 0 {
		delete(s.rejectRcpt, key)
		return
	}
	s.rejectRcpt[key] = code
}

// FailMessages answers the next n messages with code (for example 451) at
// the end of DATA, without recording them.
func (s *Server) FailMessages(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failMessages, s.failCode = n, code
}

// Messages returns the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// AuthFailures counts rejected AUTH attempts.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFailures
}

// WaitFor waits until at least n messages were accepted and returns them,
// or returns an error after timeout.
func (s *Server) WaitFor(n int, timeout time.Duration) ([]Message, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if len(s.messages) >= n {
			msgs := append([]Message(nil), s.messages...)
			s.mu.Unlock()
			return msgs, nil
		}
		changed, got := s.changed, len(s.messages)
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			return nil, fmt.Errorf("smtptest: %d of %d messages arrived within %s", got, n, timeout)
		}
	}
}

// record stores an accepted message and wakes WaitFor.
func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// rcptCode returns the code to refuse addr with, or 0.
func (s *Server) rcptCode(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejectRcpt[strings.ToLower(addr)]
}

// takeFailure returns the code to fail the current message with, or 0.
func (s *Server) takeFailure() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failMessages <= 0 {
		return 0
	}
	s.failMessages--
	return s.failCode
}

func (s *Server) authFailed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authFailures++
}
