package pki

import (
	"crypto/x509"
	"testing"
	"time"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

const (
	day    = 24 * time.Hour
	year   = 365 * day
	host   = "chat.acme.example"
	serves = 90 * day
)

// testCA is made once: key generation is the slow part of these tests.
var testCA = func() *CA {
	ca, err := NewCA("inboxchat-operator test CA", t0, 10*year)
	if err != nil {
		panic(err)
	}
	return ca
}()

// issue issues a serving certificate from testCA or fails the test.
func issue(t *testing.T, now time.Time, validity time.Duration, hosts ...string) (certPEM []byte, cert *x509.Certificate) {
	t.Helper()
	certPEM, keyPEM, err := testCA.IssueServing(hosts, now, validity)
	if err != nil {
		t.Fatalf("IssueServing(%v): %v", hosts, err)
	}
	if len(keyPEM) == 0 {
		t.Fatal("IssueServing returned no key")
	}
	cert, err = parseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, cert
}
