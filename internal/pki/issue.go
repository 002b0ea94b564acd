package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// IssueServing issues a serving certificate and its new ECDSA P-256 key for
// hosts (DNS names, "*.example.com" wildcards, or IP addresses), which become
// its subject alternative names. It is valid from now (less a few minutes
// for clock skew) for validity, but never beyond the CA, and it is usable for
// TLS server authentication only. Each certificate gets a random serial.
func (ca *CA) IssueServing(hosts []string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if validity <= 0 {
		return nil, nil, errors.New("pki: a serving certificate needs a positive validity")
	}
	names, err := normalizeHosts(hosts)
	if err != nil {
		return nil, nil, err
	}
	if now.Before(ca.cert.NotBefore) {
		return nil, nil, fmt.Errorf("pki: the CA is not valid until %s", ca.cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(ca.cert.NotAfter) {
		return nil, nil, fmt.Errorf("pki: the CA expired at %s", ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		NotBefore:    later(now.Add(-clockSkew), ca.cert.NotBefore),
		NotAfter:     earlier(now.Add(validity), ca.cert.NotAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	// The common name is informational (clients match the SANs); it is
	// limited to 64 characters, so a longer first host leaves it empty.
	if len(names[0]) <= 64 {
		tmpl.Subject = pkix.Name{CommonName: names[0]}
	}
	for _, h := range names {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issuing the certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// normalizeHosts returns hosts in the form a certificate holds them: DNS
// names lower-cased without a trailing dot, IP addresses in canonical form,
// duplicates dropped, in the given order. It refuses an empty list and
// anything that is neither a DNS name nor an IP address.
func normalizeHosts(hosts []string) ([]string, error) {
	if len(hosts) == 0 {
		return nil, errors.New("pki: a serving certificate needs at least one host")
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		n, ok := normalizeHost(h)
		if !ok {
			return nil, fmt.Errorf("pki: %q is neither a DNS name nor an IP address", h)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// normalizeHost returns the canonical form of one host and whether it is a
// DNS name (optionally a "*." wildcard) or an IP address.
func normalizeHost(h string) (string, bool) {
	if ip := net.ParseIP(h); ip != nil {
		return ip.String(), true
	}
	name := strings.TrimSuffix(strings.ToLower(h), ".")
	if name == "" || len(name) > 253 {
		return "", false
	}
	for i, label := range strings.Split(name, ".") {
		if i == 0 && label == "*" && strings.Contains(name, ".") {
			continue
		}
		if !isDNSLabel(label) {
			return "", false
		}
	}
	return name, true
}

// isDNSLabel reports whether s is a lower-case DNS label: 1 to 63 letters,
// digits and inner hyphens.
func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// earlier returns the earlier of two times.
func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
