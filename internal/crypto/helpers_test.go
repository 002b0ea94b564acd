package crypto

import (
	"maps"
	"testing"
	"time"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// newTestKeyring returns a fresh keyring made at t0.
func newTestKeyring(t testing.TB) *Keyring {
	t.Helper()
	kr, err := NewKeyring(t0)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return kr
}

// secretData returns the Secret data of kr.
func secretData(t testing.TB, kr *Keyring) map[string][]byte {
	t.Helper()
	data, err := kr.MarshalSecretData()
	if err != nil {
		t.Fatalf("MarshalSecretData: %v", err)
	}
	return data
}

// cloneData deep-copies Secret data.
func cloneData(data map[string][]byte) map[string][]byte {
	out := maps.Clone(data)
	for k, v := range out {
		out[k] = append([]byte(nil), v...)
	}
	return out
}
