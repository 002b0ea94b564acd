package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIssueServingChainsToTheCA(t *testing.T) {
	certPEM, cert := issue(t, t0, serves, host, "www.acme.example", "10.0.0.7")
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(testCA.CertPEM) {
		t.Fatal("the CA PEM is not a certificate")
	}
	tests := []struct {
		name  string
		host  string
		at    time.Time
		valid bool
	}{
		{"first host", host, t0, true},
		{"second host", "www.acme.example", t0.Add(30 * day), true},
		{"IP address", "10.0.0.7", t0, true},
		{"host in capitals", "CHAT.ACME.EXAMPLE", t0, true},
		{"another host", "other.example", t0, false},
		{"subdomain", "a.chat.acme.example", t0, false},
		{"after expiry", host, t0.Add(serves + time.Second), false},
		{"before issue", host, t0.Add(-time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cert.Verify(x509.VerifyOptions{DNSName: tc.host, Roots: pool, CurrentTime: tc.at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if (err == nil) != tc.valid {
				t.Fatalf("x509 verification for %s at %v: error %v, want valid=%v", tc.host, tc.at, err, tc.valid)
			}
			if err := testCA.VerifyServing(certPEM, tc.host, tc.at); (err == nil) != tc.valid {
				t.Fatalf("VerifyServing for %s at %v: error %v, want valid=%v", tc.host, tc.at, err, tc.valid)
			}
		})
	}
}

func TestIssueServingCertificate(t *testing.T) {
	certPEM, keyPEM, err := testCA.IssueServing([]string{"Chat.Acme.Example.", host, "::ffff:10.0.0.7", "*.acme.example"}, t0, serves)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("the certificate and key do not form a TLS key pair: %v", err)
	}
	cert := pair.Leaf
	if _, ok := pair.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("the key is %T, want ECDSA", pair.PrivateKey)
	}
	if want := []string{host, "*.acme.example"}; !slices.Equal(cert.DNSNames, want) {
		t.Errorf("DNS names = %v, want %v (normalised, without duplicates)", cert.DNSNames, want)
	}
	if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) {
		t.Errorf("IP addresses = %v, want [10.0.0.7]", cert.IPAddresses)
	}
	if cert.IsCA || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("not a server-auth leaf: IsCA %v, ExtKeyUsage %v, KeyUsage %v", cert.IsCA, cert.ExtKeyUsage, cert.KeyUsage)
	}
	if cert.Subject.CommonName != host {
		t.Errorf("common name = %q, want %q", cert.Subject.CommonName, host)
	}
	if !cert.NotAfter.Equal(t0.Add(serves)) || !cert.NotBefore.Before(t0) {
		t.Errorf("valid %v to %v, want from just before %v to %v", cert.NotBefore, cert.NotAfter, t0, t0.Add(serves))
	}
	_, again := issue(t, t0, serves, host)
	if cert.SerialNumber.Cmp(again.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}

func TestIssueServingNeverOutlivesTheCA(t *testing.T) {
	short, err := NewCA("short-lived", t0, 30*day)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := short.IssueServing([]string{host}, t0, serves)
	if err != nil {
		t.Fatal(err)
	}
	if notAfter, _ := NotAfter(certPEM); !notAfter.Equal(t0.Add(30 * day)) {
		t.Errorf("the certificate expires %v, after its CA (%v)", notAfter, t0.Add(30*day))
	}
	if _, _, err := short.IssueServing([]string{host}, t0.Add(31*day), serves); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired CA issued a certificate: %v", err)
	}
	if _, _, err := short.IssueServing([]string{host}, t0.Add(-day), serves); err == nil || !strings.Contains(err.Error(), "not valid until") {
		t.Errorf("a CA not yet valid issued a certificate: %v", err)
	}
}

func TestIssueServingRefusesBadHosts(t *testing.T) {
	tests := []struct {
		name  string
		hosts []string
	}{
		{"no hosts", nil},
		{"empty host", []string{""}},
		{"URL", []string{"https://chat.acme.example"}},
		{"space", []string{"chat acme.example"}},
		{"port", []string{"chat.acme.example:443"}},
		{"empty label", []string{"chat..acme.example"}},
		{"leading hyphen", []string{"-chat.acme.example"}},
		{"inner wildcard", []string{"chat.*.example"}},
		{"bare wildcard", []string{"*"}},
		{"long label", []string{strings.Repeat("a", 64) + ".example"}},
		{"one bad among good", []string{host, "bad_host.example"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := testCA.IssueServing(tc.hosts, t0, serves); err == nil {
				t.Fatalf("a certificate was issued for %q", tc.hosts)
			}
		})
	}
	if _, _, err := testCA.IssueServing([]string{host}, t0, 0); err == nil {
		t.Fatal("a certificate without validity was issued")
	}
}

func TestIssueServingWithALongFirstHost(t *testing.T) {
	long := strings.Repeat("a", 60) + ".acme.example"
	_, cert := issue(t, t0, serves, long)
	if cert.Subject.CommonName != "" || !slices.Equal(cert.DNSNames, []string{long}) {
		t.Fatalf("common name %q, DNS names %v; want no common name and the host as the only SAN", cert.Subject.CommonName, cert.DNSNames)
	}
}
