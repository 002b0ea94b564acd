package datamap

import (
	"testing"
	"time"
)

func TestPeriodResolve(t *testing.T) {
	settings := map[string]time.Duration{"securityLogs": 90 * 24 * time.Hour}
	for _, tc := range []struct {
		period  Period
		want    time.Duration
		wantErr bool
	}{
		{"720h", 720 * time.Hour, false},
		{"retention.securityLogs", 90 * 24 * time.Hour, false},
		{"retention.exports", 0, true}, // known, but this tenant does not set it
		{"forever", 0, true},
		{"0s", 0, true},
	} {
		got, err := tc.period.Resolve(settings)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("Period(%q).Resolve = %s, %v; want %s, error %v", tc.period, got, err, tc.want, tc.wantErr)
		}
	}
	if name, ok := Period("retention.securityLogs").Setting(); !ok || name != "securityLogs" {
		t.Errorf("Setting() = %q, %v", name, ok)
	}
	if _, ok := Period("24h").Setting(); ok {
		t.Error("a duration reported a setting")
	}
}
