package pki

import (
	"strings"
	"testing"
	"time"
)

func TestRenewAtIsTwoThirdsIntoTheLifetime(t *testing.T) {
	certPEM, cert := issue(t, t0, serves, host)
	life := cert.NotAfter.Sub(cert.NotBefore)
	want := cert.NotBefore.Add(life * 2 / 3)
	if got := RenewAt(cert); got.Sub(want).Abs() > time.Microsecond {
		t.Fatalf("RenewAt = %v, want %v", got, want)
	}
	if got, err := RenewAtPEM(certPEM); err != nil || !got.Equal(RenewAt(cert)) {
		t.Fatalf("RenewAtPEM = %v, %v; want %v", got, err, RenewAt(cert))
	}
	if d := RenewAt(cert).Sub(t0); d < 59*day || d > 61*day {
		t.Fatalf("a 90-day certificate renews after %v, want about 60 days", d)
	}
	if _, err := RenewAtPEM([]byte("garbage")); err == nil {
		t.Fatal("RenewAtPEM read garbage")
	}
}

func TestNotAfter(t *testing.T) {
	certPEM, _ := issue(t, t0, serves, host)
	if got, err := NotAfter(certPEM); err != nil || !got.Equal(t0.Add(serves)) {
		t.Fatalf("NotAfter = %v, %v; want %v", got, err, t0.Add(serves))
	}
	if _, err := NotAfter(nil); err == nil {
		t.Fatal("NotAfter read an empty certificate")
	}
}

func TestNeedsRenewal(t *testing.T) {
	certPEM, cert := issue(t, t0, serves, host, "10.0.0.7")
	renewAt := RenewAt(cert)
	hosts := []string{host, "10.0.0.7"}
	tests := []struct {
		name    string
		certPEM []byte
		now     time.Time
		hosts   []string
		want    string // in the reason; "" when no renewal is due
	}{
		{"fresh", certPEM, t0, hosts, ""},
		{"a second before renewal", certPEM, renewAt.Add(-time.Second), hosts, ""},
		{"at renewal", certPEM, renewAt, hosts, "due for renewal"},
		{"after renewal", certPEM, renewAt.Add(day), hosts, "due for renewal"},
		{"expired", certPEM, t0.Add(serves + time.Second), hosts, "expired"},
		{"not valid yet", certPEM, t0.Add(-time.Hour), hosts, "not valid until"},
		{"hosts in another order and case", certPEM, t0, []string{"10.0.0.7", "CHAT.acme.example."}, ""},
		{"duplicate host", certPEM, t0, []string{host, host, "10.0.0.7"}, ""},
		{"host changed", certPEM, t0, []string{"new.acme.example", "10.0.0.7"}, "not 10.0.0.7, new.acme.example"},
		{"host added", certPEM, t0, append([]string{"www.acme.example"}, hosts...), "not"},
		{"host removed", certPEM, t0, []string{host}, "not"},
		{"invalid host", certPEM, t0, []string{"bad host"}, "hosts changed"},
		{"missing", nil, t0, hosts, "no certificate"},
		{"blank", []byte("\n"), t0, hosts, "no certificate"},
		{"unparsable", []byte("garbage"), t0, hosts, "cannot be read"},
		{"a key, not a certificate", testCA.KeyPEM, t0, hosts, "cannot be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason := RenewalReason(tc.certPEM, tc.now, tc.hosts)
			if tc.want == "" && reason != "" || tc.want != "" && !strings.Contains(reason, tc.want) {
				t.Fatalf("RenewalReason = %q, want %q", reason, tc.want)
			}
			if got := NeedsRenewal(tc.certPEM, tc.now, tc.hosts); got != (tc.want != "") {
				t.Fatalf("NeedsRenewal = %v, want %v", got, tc.want != "")
			}
		})
	}
}

func TestRenewalFollowsAnInjectedClock(t *testing.T) {
	now := t0
	certPEM, _ := issue(t, now, serves, host)
	hosts := []string{host}
	renewals := 0
	for range 365 {
		now = now.Add(day)
		if NeedsRenewal(certPEM, now, hosts) {
			renewals++
			certPEM, _ = issue(t, now, serves, host)
			if NeedsRenewal(certPEM, now, hosts) {
				t.Fatalf("a certificate issued at %v needs renewal at once", now)
			}
		}
		if err := testCA.VerifyServing(certPEM, host, now); err != nil {
			t.Fatalf("on %v the served certificate is invalid: %v", now.Format(time.DateOnly), err)
		}
	}
	if renewals != 6 {
		t.Fatalf("a year of daily checks renewed a 90-day certificate %d times, want 6 (every 60 days)", renewals)
	}
}
