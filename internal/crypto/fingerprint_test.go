package crypto

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

var fingerprintForm = regexp.MustCompile(`^hmac-sha256:[0-9a-f]{64}$`)

func TestSubjectFingerprintForm(t *testing.T) {
	fp := SubjectFingerprint(testIndexKey, "User/email", "jane@example.com")
	if !fingerprintForm.MatchString(fp) {
		t.Fatalf("fingerprint %q is not hmac-sha256: and 64 hex digits", fp)
	}
	if strings.Contains(fp, "jane") {
		t.Fatalf("fingerprint %q reveals the identifier", fp)
	}
	if fp == FingerprintPrefix+hex.EncodeToString(BlindIndex(testIndexKey, "User/email", "jane@example.com")) {
		t.Fatal("a fingerprint equals the blind index of the same identifier")
	}
}

func TestSubjectFingerprintIdentity(t *testing.T) {
	otherKey := []byte("another key, another tenant.....")
	tests := []struct {
		name        string
		a, b        func() string
		wantTheSame bool
	}{
		{"same subject",
			func() string { return SubjectFingerprint(testIndexKey, "Lead/psid", "1234") },
			func() string { return SubjectFingerprint(testIndexKey, "Lead/psid", "1234") }, true},
		{"e-mail written differently",
			func() string { return SubjectFingerprint(testIndexKey, "User/email", " Jane@Example.com") },
			func() string { return SubjectFingerprint(testIndexKey, "User/email", "jane@example.com") }, true},
		{"user and lead with the same id",
			func() string { return SubjectFingerprint(testIndexKey, "User/id", "42") },
			func() string { return SubjectFingerprint(testIndexKey, "Lead/id", "42") }, false},
		{"another key",
			func() string { return SubjectFingerprint(testIndexKey, "User/id", "42") },
			func() string { return SubjectFingerprint(otherKey, "User/id", "42") }, false},
		{"ids are exact",
			func() string { return SubjectFingerprint(testIndexKey, "User/id", "A1") },
			func() string { return SubjectFingerprint(testIndexKey, "User/id", "a1") }, false},
	}
	for _, tc := range tests {
		if got := tc.a() == tc.b(); got != tc.wantTheSame {
			t.Errorf("%s: same fingerprint is %v, want %v", tc.name, got, tc.wantTheSame)
		}
	}
}
