package crypto

import (
	"encoding/base64"
	"slices"
	"testing"
)

func TestNewAppSecretData(t *testing.T) {
	a, b := NewAppSecretData(), NewAppSecretData()
	for _, name := range []string{"session-key", "unsubscribe-key", "blind-index-key"} {
		if !slices.Contains(AppSecretKeys(), name) {
			t.Errorf("AppSecretKeys lacks %s", name)
		}
		raw, err := base64.RawURLEncoding.DecodeString(string(a[name]))
		if err != nil || len(raw) != AppKeySize {
			t.Errorf("%s is not %d random bytes as URL-safe base64: %d bytes, %v", name, AppKeySize, len(raw), err)
		}
		if string(a[name]) == string(b[name]) {
			t.Errorf("two app secrets share their %s", name)
		}
	}
	if len(a) != len(AppSecretKeys()) {
		t.Errorf("the app secret has %d entries, want %d", len(a), len(AppSecretKeys()))
	}
	if string(a[AppSecretUnsubscribeKey]) == string(a[AppSecretBlindIndexKey]) {
		t.Error("the keys of one app secret are equal")
	}
}
