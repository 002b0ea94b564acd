package pki

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RenewAt is when a certificate is due for renewal: two thirds into its
// lifetime, NotBefore + (NotAfter - NotBefore) * 2/3. A 90-day certificate
// is renewed after 60 days, leaving 30 to retry.
func RenewAt(cert *x509.Certificate) time.Time {
	life := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotBefore.Add(life / 3 * 2)
}

// RenewAtPEM is RenewAt for a PEM certificate.
func RenewAtPEM(certPEM []byte) (time.Time, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return time.Time{}, err
	}
	return RenewAt(cert), nil
}

// NotAfter is when a PEM certificate expires.
func NotAfter(certPEM []byte) (time.Time, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return time.Time{}, err
	}
	return cert.NotAfter, nil
}

// NeedsRenewal reports whether a certificate must be issued (again) for
// hosts at now; RenewalReason says why.
func NeedsRenewal(certPEM []byte, now time.Time, hosts []string) bool {
	return RenewalReason(certPEM, now, hosts) != ""
}

// RenewalReason says why a certificate must be issued (again) for hosts at
// now, as a sentence for an event or a condition message, or returns "" when
// it need not be. A certificate must be issued when it is missing or
// unreadable, not valid yet, expired, at or past RenewAt, or when its
// subject alternative names differ from hosts (compared as sets, DNS names
// case-insensitively).
func RenewalReason(certPEM []byte, now time.Time, hosts []string) string {
	if len(bytes.TrimSpace(certPEM)) == 0 {
		return "there is no certificate yet"
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return "the certificate cannot be read"
	}
	switch renewAt := RenewAt(cert); {
	case now.Before(cert.NotBefore):
		return fmt.Sprintf("the certificate is not valid until %s", cert.NotBefore.UTC().Format(time.RFC3339))
	case now.After(cert.NotAfter):
		return fmt.Sprintf("the certificate expired at %s", cert.NotAfter.UTC().Format(time.RFC3339))
	case !now.Before(renewAt):
		return fmt.Sprintf("the certificate was due for renewal at %s, two thirds into its lifetime", renewAt.UTC().Format(time.RFC3339))
	}
	have := certHosts(cert)
	want, err := normalizeHosts(hosts)
	if err != nil {
		return fmt.Sprintf("the hosts changed: %v", err)
	}
	slices.Sort(want)
	if !slices.Equal(have, want) {
		return fmt.Sprintf("the certificate is for %s, not %s", strings.Join(have, ", "), strings.Join(want, ", "))
	}
	return ""
}

// certHosts returns the subject alternative names of a certificate,
// normalised as normalizeHosts does, sorted.
func certHosts(cert *x509.Certificate) []string {
	var names []string
	add := func(h string) {
		if n, ok := normalizeHost(h); ok {
			h = n
		}
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	for _, h := range cert.DNSNames {
		add(h)
	}
	for _, ip := range cert.IPAddresses {
		add(ip.String())
	}
	slices.Sort(names)
	return names
}
