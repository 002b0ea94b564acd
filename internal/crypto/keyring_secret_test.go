package crypto

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKeyringSecretDataRoundTrip(t *testing.T) {
	kr := newTestKeyring(t)
	if err := kr.Rotate(t0.Add(90 * day)); err != nil {
		t.Fatal(err)
	}
	data := secretData(t, kr)
	wantEntries := []string{"active", "key-k1", "key-k2", "rotated-at"}
	if got := slices.Sorted(maps.Keys(data)); !slices.Equal(got, wantEntries) {
		t.Fatalf("Secret entries = %v, want %v", got, wantEntries)
	}
	if string(data["active"]) != "k2" || string(data["rotated-at"]) != "2027-02-27T08:00:00Z" || len(data["key-k1"]) != KeySize {
		t.Fatalf("unexpected Secret data: active %q, rotated-at %q, key-k1 %d bytes", data["active"], data["rotated-at"], len(data["key-k1"]))
	}

	back, err := KeyringFromSecretData(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.ActiveKeyID() != "k2" || !back.RotatedAt().Equal(kr.RotatedAt()) || !slices.Equal(back.KeyIDs(), kr.KeyIDs()) {
		t.Fatalf("read back active %s at %v keys %v, want k2 at %v keys %v",
			back.ActiveKeyID(), back.RotatedAt(), back.KeyIDs(), kr.RotatedAt(), kr.KeyIDs())
	}
	if again := secretData(t, back); !maps.EqualFunc(again, data, bytes.Equal) {
		t.Fatal("a keyring read back serialises differently")
	}
}

func TestKeyringSecretDataIsCopied(t *testing.T) {
	kr := newTestKeyring(t)
	data := secretData(t, kr)
	sealed, err := kr.Seal([]byte("value"), nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := KeyringFromSecretData(data)
	if err != nil {
		t.Fatal(err)
	}
	clear(data["key-k1"]) // the caller reuses its buffers
	for name, k := range map[string]*Keyring{"original": kr, "read back": back} {
		if _, err := k.Open(sealed, nil); err != nil {
			t.Errorf("%s keyring shares key bytes with the Secret data: %v", name, err)
		}
	}
}

func TestKeyringFromSecretDataIgnoresOtherEntries(t *testing.T) {
	data := secretData(t, newTestKeyring(t))
	data["note"] = []byte("added by a human")
	if _, err := KeyringFromSecretData(data); err != nil {
		t.Fatalf("an unrelated entry made the keyring unreadable: %v", err)
	}
}

func TestKeyringFromCorruptSecretData(t *testing.T) {
	kr := newTestKeyring(t)
	if err := kr.Rotate(t0.Add(day)); err != nil {
		t.Fatal(err)
	}
	base := secretData(t, kr)
	tests := []struct {
		name    string
		corrupt func(map[string][]byte)
		want    string // in the error message
	}{
		{"truncated key", func(d map[string][]byte) { d["key-k1"] = d["key-k1"][:16] }, "key k1 is 16 bytes long, want 32"},
		{"empty key", func(d map[string][]byte) { d["key-k2"] = nil }, "key k2 is 0 bytes long"},
		{"key too long", func(d map[string][]byte) { d["key-k1"] = make([]byte, 33) }, "key k1 is 33 bytes long"},
		{"invalid key id", func(d map[string][]byte) { d["key-x"] = make([]byte, KeySize) }, `entry "key-x" does not name a key id`},
		{"key id zero", func(d map[string][]byte) { d["key-k0"] = make([]byte, KeySize) }, `"key-k0"`},
		{"key id with a leading zero", func(d map[string][]byte) { d["key-k02"] = make([]byte, KeySize) }, `"key-k02"`},
		{"no active entry", func(d map[string][]byte) { delete(d, "active") }, `entry "active" naming the active key is missing`},
		{"empty active entry", func(d map[string][]byte) { d["active"] = nil }, `"active" naming the active key is missing`},
		{"active is not a key id", func(d map[string][]byte) { d["active"] = []byte("k2\n") }, `entry "active" does not hold a key id`},
		{"active key missing", func(d map[string][]byte) { delete(d, "key-k2") }, `the active key k2 has no entry "key-k2"`},
		{"active key unknown", func(d map[string][]byte) { d["active"] = []byte("k9") }, "the active key k9 has no entry"},
		{"no rotated-at", func(d map[string][]byte) { delete(d, "rotated-at") }, `entry "rotated-at" is missing`},
		{"bad rotated-at", func(d map[string][]byte) { d["rotated-at"] = []byte("yesterday") }, `entry "rotated-at" is not an RFC 3339 time`},
		{"no keys at all", func(d map[string][]byte) { delete(d, "key-k1"); delete(d, "key-k2") }, "the active key k2 has no entry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := cloneData(base)
			tc.corrupt(d)
			kr, err := KeyringFromSecretData(d)
			if err == nil {
				t.Fatalf("a corrupt keyring was accepted, active key %s", kr.ActiveKeyID())
			}
			if !errors.Is(err, ErrKeyringCorrupt) {
				t.Errorf("error %v does not wrap ErrKeyringCorrupt", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestKeyringFromNilSecretData(t *testing.T) {
	if _, err := KeyringFromSecretData(nil); !errors.Is(err, ErrKeyringCorrupt) {
		t.Fatalf("empty Secret data: want ErrKeyringCorrupt, got %v", err)
	}
}

func TestKeyringSecretDataKeepsRotatedAtToTheSecond(t *testing.T) {
	kr, err := NewKeyring(t0.Add(999 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	back, err := KeyringFromSecretData(secretData(t, kr))
	if err != nil {
		t.Fatal(err)
	}
	if !back.RotatedAt().Equal(kr.RotatedAt()) {
		t.Fatalf("rotated-at changed in the Secret: %v became %v", kr.RotatedAt(), back.RotatedAt())
	}
}
