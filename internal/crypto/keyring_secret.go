package crypto

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Entries of a keyring Secret's data.
const (
	// SecretKeyPrefix prefixes the entry of each key: "key-k1" holds the 32
	// raw bytes of key k1.
	SecretKeyPrefix = "key-"
	// SecretActive is the entry naming the active key id.
	SecretActive = "active"
	// SecretRotatedAt is the entry holding when the active key was made,
	// in RFC 3339.
	SecretRotatedAt = "rotated-at"
)

// ErrKeyringCorrupt means Secret data does not hold a usable keyring: a key
// of the wrong length, an invalid key id, no active key or an active key
// that is missing, or an unreadable rotation time. The wrapping error says
// which; it never includes key material.
var ErrKeyringCorrupt = errors.New("crypto: the keyring is corrupt")

// MarshalSecretData serialises the keyring as the data of a Secret: one
// entry per key ("key-<id>", 32 raw bytes), "active" (the active key id) and
// "rotated-at" (RFC 3339). The returned map and its values are copies.
func (k *Keyring) MarshalSecretData() (map[string][]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if _, ok := k.keys[k.active]; !ok {
		return nil, fmt.Errorf("%w: the active key %q is not in the keyring", ErrKeyringCorrupt, k.active)
	}
	data := make(map[string][]byte, len(k.keys)+2)
	data[SecretActive] = []byte(k.active)
	data[SecretRotatedAt] = []byte(k.rotatedAt.Format(time.RFC3339))
	for id, key := range k.keys {
		data[SecretKeyPrefix+id] = append([]byte(nil), key...)
	}
	return data, nil
}

// KeyringFromSecretData reads a keyring written by MarshalSecretData.
// Entries other than keys, "active" and "rotated-at" are ignored. Every
// error wraps ErrKeyringCorrupt.
func KeyringFromSecretData(data map[string][]byte) (*Keyring, error) {
	kr := &Keyring{keys: map[string][]byte{}}
	// Sorted, so that the same corrupt data always gives the same error.
	for _, name := range slices.Sorted(maps.Keys(data)) {
		id, ok := strings.CutPrefix(name, SecretKeyPrefix)
		if !ok {
			continue
		}
		if keySerial(id) < 1 {
			return nil, fmt.Errorf("%w: entry %q does not name a key id of the form k1, k2, ...", ErrKeyringCorrupt, name)
		}
		if n := len(data[name]); n != KeySize {
			return nil, fmt.Errorf("%w: key %s is %d bytes long, want %d", ErrKeyringCorrupt, id, n, KeySize)
		}
		kr.keys[id] = append([]byte(nil), data[name]...)
	}
	active, ok := data[SecretActive]
	switch {
	case !ok || len(active) == 0:
		return nil, fmt.Errorf("%w: entry %q naming the active key is missing", ErrKeyringCorrupt, SecretActive)
	case keySerial(string(active)) < 1:
		return nil, fmt.Errorf("%w: entry %q does not hold a key id of the form k1, k2, ...", ErrKeyringCorrupt, SecretActive)
	}
	kr.active = string(active)
	if _, ok := kr.keys[kr.active]; !ok {
		return nil, fmt.Errorf("%w: the active key %s has no entry %q", ErrKeyringCorrupt, kr.active, SecretKeyPrefix+kr.active)
	}
	rotatedAt, ok := data[SecretRotatedAt]
	if !ok {
		return nil, fmt.Errorf("%w: entry %q is missing", ErrKeyringCorrupt, SecretRotatedAt)
	}
	t, err := time.Parse(time.RFC3339, string(rotatedAt))
	if err != nil {
		return nil, fmt.Errorf("%w: entry %q is not an RFC 3339 time", ErrKeyringCorrupt, SecretRotatedAt)
	}
	kr.rotatedAt = t.UTC()
	return kr, nil
}
