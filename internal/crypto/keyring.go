package crypto

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"
)

// KeySize is the length in bytes of every keyring key (AES-256).
const KeySize = 32

// Keyring is a tenant's set of AES-256-GCM keys: exactly one active key that
// seals new data, and the older keys, kept to open data sealed before a
// rotation. Key ids are k1, k2, ... in the order the keys were made; a new
// key always gets a higher number than any key the keyring holds.
//
// A Keyring is safe for concurrent use.
type Keyring struct {
	mu        sync.RWMutex
	keys      map[string][]byte
	active    string
	rotatedAt time.Time
}

// NewKeyring makes a keyring whose only key, k1, is active from now.
func NewKeyring(now time.Time) (*Keyring, error) {
	kr := &Keyring{}
	if err := kr.Rotate(now); err != nil {
		return nil, err
	}
	return kr, nil
}

// Rotate adds a fresh key and makes it the active one, from now; the previous
// keys stay for decryption. The rotation time is kept to the second, as the
// Secret stores it.
func (k *Keyring) Rotate(now time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string][]byte{}
	}
	next := 1
	for id := range k.keys {
		next = max(next, keySerial(id)+1)
	}
	id := keyID(next)
	if _, taken := k.keys[id]; taken || next < 1 {
		return errors.New("crypto: the keyring has run out of key ids")
	}
	k.keys[id] = randomBytes(KeySize)
	k.active = id
	k.rotatedAt = now.UTC().Truncate(time.Second)
	return nil
}

// ActiveKeyID is the id of the key that seals new data, such as "k2".
func (k *Keyring) ActiveKeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active
}

// RotatedAt is when the active key was made (UTC, to the second).
func (k *Keyring) RotatedAt() time.Time {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.rotatedAt
}

// Len is how many keys the keyring holds, the active one included.
func (k *Keyring) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.keys)
}

// KeyIDs lists the ids of the keys the keyring holds, oldest first.
func (k *Keyring) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(keySerial(a), keySerial(b)) })
	return ids
}

// DueForRotation reports whether the active key is at least interval old at
// now. A keyring with no key is always due.
func (k *Keyring) DueForRotation(now time.Time, interval time.Duration) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active == "" || !now.Before(k.rotatedAt.Add(interval))
}

// key returns the key with the given id.
func (k *Keyring) key(id string) ([]byte, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[id]
	return key, ok
}

// activeKey returns the active key and its id.
func (k *Keyring) activeKey() (string, []byte, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[k.active]
	return k.active, key, ok
}

// maxKeyIDLen bounds a key id: "k" and the decimal digits of an int64.
const maxKeyIDLen = 20

// keyID is the id of the n-th key.
func keyID(n int) string { return "k" + strconv.Itoa(n) }

// keySerial is the number of a key id in canonical form (k1, k2, ..., no
// sign, no leading zero), or -1 for anything else.
func keySerial(id string) int {
	if len(id) < 2 || len(id) > maxKeyIDLen || id[0] != 'k' || id[1] < '1' || id[1] > '9' {
		return -1
	}
	n, err := strconv.Atoi(id[1:])
	if err != nil || keyID(n) != id {
		return -1
	}
	return n
}
