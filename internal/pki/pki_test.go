package pki

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestServingCertificateChainsAndRenews(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	ca, err := NewCA("test CA", now, 10*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := again.IssueServing([]string{"chat.acme.example"}, now, 90*24*time.Hour)
	if err != nil || len(keyPEM) == 0 {
		t.Fatal(err)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "chat.acme.example", Roots: pool, CurrentTime: now}); err != nil {
		t.Fatalf("the certificate does not verify against the CA: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: pool, CurrentTime: now}); err == nil {
		t.Fatal("the certificate verified for a host it was not issued for")
	}
	renewAt := RenewAt(cert)
	hosts := []string{"chat.acme.example"}
	if NeedsRenewal(certPEM, renewAt.Add(-time.Second), hosts) {
		t.Fatal("renewal requested before two thirds of the lifetime")
	}
	if !NeedsRenewal(certPEM, renewAt, hosts) {
		t.Fatal("no renewal at two thirds of the lifetime")
	}
	if !NeedsRenewal(certPEM, now, []string{"new.acme.example"}) {
		t.Fatal("a host change must trigger a new certificate")
	}
	if !NeedsRenewal([]byte("garbage"), now, hosts) || !NeedsRenewal(nil, now, hosts) {
		t.Fatal("a missing or unparsable certificate must be reissued")
	}
	if d := renewAt.Sub(now); d < 59*24*time.Hour || d > 61*24*time.Hour {
		t.Fatalf("a 90-day certificate renews after about 60 days, got %s", d)
	}
}

func TestLoadCARejectsMismatchedKey(t *testing.T) {
	now := time.Now()
	a, _ := NewCA("a", now, time.Hour)
	b, _ := NewCA("b", now, time.Hour)
	if _, err := LoadCA(a.CertPEM, b.KeyPEM); err == nil {
		t.Fatal("a CA with another CA's key was accepted")
	}
}
