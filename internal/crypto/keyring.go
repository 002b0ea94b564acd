package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Keys of the keyring Secret's data.
const (
	secretKeyPrefix = "key-"
	secretActive    = "active"
	secretRotatedAt = "rotated-at"
	keySize         = 32
)

// ErrUnknownKey means a ciphertext names a key the keyring does not hold.
var ErrUnknownKey = errors.New("crypto: ciphertext was sealed with a key this keyring does not hold")

// ErrCiphertext means a ciphertext is malformed or was altered.
var ErrCiphertext = errors.New("crypto: ciphertext is malformed or was altered")

// Keyring is a tenant's set of AES-256-GCM keys: one active key that seals new
// data and older keys kept to open data sealed before a rotation. Key ids are
// k1, k2, ... in the order the keys were made.
type Keyring struct {
	keys      map[string][]byte
	active    string
	rotatedAt time.Time
}

// NewKeyring makes a keyring with one fresh active key, k1.
func NewKeyring(now time.Time) (*Keyring, error) {
	kr := &Keyring{keys: map[string][]byte{}}
	return kr, kr.Rotate(now)
}

// Rotate adds a new active key; the previous keys stay for decryption.
func (k *Keyring) Rotate(now time.Time) error {
	id := "k" + strconv.Itoa(k.maxSerial()+1)
	k.keys[id] = randomBytes(keySize)
	k.active = id
	k.rotatedAt = now.UTC().Truncate(time.Second)
	return nil
}

func serial(id string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "k"))
	if err != nil || !strings.HasPrefix(id, "k") {
		return -1
	}
	return n
}

func (k *Keyring) maxSerial() int {
	m := 0
	for id := range k.keys {
		m = max(m, serial(id))
	}
	return m
}

// ActiveKeyID is the id of the key that seals new data.
func (k *Keyring) ActiveKeyID() string { return k.active }

// RotatedAt is when the active key was made.
func (k *Keyring) RotatedAt() time.Time { return k.rotatedAt }

// Len is how many keys the keyring holds.
func (k *Keyring) Len() int { return len(k.keys) }

// KeyIDs lists the key ids, oldest first.
func (k *Keyring) KeyIDs() []string {
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return serial(ids[a]) < serial(ids[b]) })
	return ids
}

// DueForRotation reports whether the active key is at least interval old.
func (k *Keyring) DueForRotation(now time.Time, interval time.Duration) bool {
	return !now.Before(k.rotatedAt.Add(interval))
}

// MarshalSecretData serialises the keyring for a Secret: one entry per key
// (key-<id>, 32 raw bytes), the active id and the rotation time.
func (k *Keyring) MarshalSecretData() (map[string][]byte, error) {
	if _, ok := k.keys[k.active]; !ok {
		return nil, errors.New("crypto: the active key is missing from the keyring")
	}
	data := map[string][]byte{
		secretActive:    []byte(k.active),
		secretRotatedAt: []byte(k.rotatedAt.Format(time.RFC3339)),
	}
	for id, key := range k.keys {
		data[secretKeyPrefix+id] = append([]byte(nil), key...)
	}
	return data, nil
}

// KeyringFromSecretData reads a keyring written by MarshalSecretData.
func KeyringFromSecretData(data map[string][]byte) (*Keyring, error) {
	kr := &Keyring{keys: map[string][]byte{}, active: string(data[secretActive])}
	for name, v := range data {
		if !strings.HasPrefix(name, secretKeyPrefix) {
			continue
		}
		id := strings.TrimPrefix(name, secretKeyPrefix)
		if serial(id) < 1 {
			return nil, fmt.Errorf("crypto: keyring entry %q has an invalid key id", name)
		}
		if len(v) != keySize {
			return nil, fmt.Errorf("crypto: key %s is %d bytes, want %d", id, len(v), keySize)
		}
		kr.keys[id] = append([]byte(nil), v...)
	}
	if kr.active == "" {
		return nil, errors.New("crypto: the keyring names no active key")
	}
	if _, ok := kr.keys[kr.active]; !ok {
		return nil, fmt.Errorf("crypto: the active key %s is missing from the keyring", kr.active)
	}
	t, err := time.Parse(time.RFC3339, string(data[secretRotatedAt]))
	if err != nil {
		return nil, errors.New("crypto: the keyring's rotated-at is not an RFC 3339 time")
	}
	kr.rotatedAt = t
	return kr, nil
}

// ciphertext format: "v1:" + key id + ":" + 12-byte nonce + GCM output.
const sealVersion = "v1:"

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext with the active key. associatedData binds the
// ciphertext to its place (for example "users.email:42") so it cannot be
// moved to another row; Open must be given the same value.
func (k *Keyring) Seal(plaintext, associatedData []byte) ([]byte, error) {
	aead, err := gcm(k.keys[k.active])
	if err != nil {
		return nil, err
	}
	nonce := randomBytes(aead.NonceSize())
	out := make([]byte, 0, len(sealVersion)+len(k.active)+1+len(nonce)+len(plaintext)+aead.Overhead())
	out = append(out, sealVersion...)
	out = append(out, k.active...)
	out = append(out, ':')
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, associatedData), nil
}

// KeyIDOf returns the id of the key that sealed a ciphertext.
func KeyIDOf(ciphertext []byte) (string, error) {
	s := string(ciphertext[:min(len(ciphertext), 32)])
	if !strings.HasPrefix(s, sealVersion) {
		return "", ErrCiphertext
	}
	rest := s[len(sealVersion):]
	i := strings.IndexByte(rest, ':')
	if i < 1 {
		return "", ErrCiphertext
	}
	return rest[:i], nil
}

// Open decrypts a ciphertext made by Seal with any key of the keyring.
func (k *Keyring) Open(ciphertext, associatedData []byte) ([]byte, error) {
	id, err := KeyIDOf(ciphertext)
	if err != nil {
		return nil, err
	}
	key, ok := k.keys[id]
	if !ok {
		return nil, ErrUnknownKey
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	body := ciphertext[len(sealVersion)+len(id)+1:]
	if len(body) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrCiphertext
	}
	pt, err := aead.Open(nil, body[:aead.NonceSize()], body[aead.NonceSize():], associatedData)
	if err != nil {
		return nil, ErrCiphertext
	}
	return pt, nil
}
