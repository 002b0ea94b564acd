package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// A sealed value is self-describing and binary:
//
//	"v1:" <key id> ":" <12-byte nonce> <AES-256-GCM ciphertext and 16-byte tag>
//
// The key id is ASCII (k1, k2, ...); everything after the second colon is raw
// bytes, so sealed values belong in binary columns (bytea, VARBINARY/BLOB).
const sealVersion = "v1:"

// ErrUnknownKey means a ciphertext was sealed with a key the keyring does not
// hold (a key dropped from the Secret, or another tenant's keyring).
var ErrUnknownKey = errors.New("crypto: the ciphertext was sealed with a key this keyring does not hold")

// ErrCiphertext means a ciphertext is malformed, was altered, or is opened
// with associated data other than the data it was sealed with.
var ErrCiphertext = errors.New("crypto: the ciphertext is malformed or was altered")

// Seal encrypts plaintext with the active key and returns
// "v1:<key id>:" + nonce + ciphertext. associatedData binds the ciphertext to
// its place (for example "users.email_enc:42") so that it cannot be moved to
// another row or column: Open must be given the same value. Every call uses a
// fresh random nonce.
func (k *Keyring) Seal(plaintext, associatedData []byte) ([]byte, error) {
	id, key, ok := k.activeKey()
	if !ok {
		return nil, errors.New("crypto: the keyring has no active key")
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := randomBytes(aead.NonceSize())
	out := make([]byte, 0, len(sealVersion)+len(id)+1+len(nonce)+len(plaintext)+aead.Overhead())
	out = append(out, sealVersion...)
	out = append(out, id...)
	out = append(out, ':')
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, associatedData), nil
}

// Open decrypts a ciphertext made by Seal with whichever key of the keyring
// sealed it. It returns ErrUnknownKey when the keyring lacks that key and
// ErrCiphertext when the ciphertext is malformed, altered or opened with
// other associated data.
func (k *Keyring) Open(ciphertext, associatedData []byte) ([]byte, error) {
	id, body, err := splitSealed(ciphertext)
	if err != nil {
		return nil, err
	}
	key, ok := k.key(id)
	if !ok {
		return nil, fmt.Errorf("%w (key %s)", ErrUnknownKey, id)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(body) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrCiphertext
	}
	nonce, sealed := body[:aead.NonceSize()], body[aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, sealed, associatedData)
	if err != nil {
		return nil, ErrCiphertext
	}
	return plaintext, nil
}

// KeyIDOf returns the id of the key that sealed a ciphertext, without
// decrypting it; re-encryption jobs use it to find data sealed with old keys.
func KeyIDOf(ciphertext []byte) (string, error) {
	id, _, err := splitSealed(ciphertext)
	return id, err
}

// splitSealed splits a sealed value into its key id and the nonce and
// ciphertext that follow.
func splitSealed(sealed []byte) (id string, body []byte, err error) {
	rest, ok := bytes.CutPrefix(sealed, []byte(sealVersion))
	if !ok {
		return "", nil, ErrCiphertext
	}
	i := bytes.IndexByte(rest[:min(len(rest), maxKeyIDLen+1)], ':')
	if i < 0 || keySerial(string(rest[:i])) < 1 {
		return "", nil, ErrCiphertext
	}
	return string(rest[:i]), rest[i+1:], nil
}

// newGCM returns AES-256-GCM with a 12-byte random nonce for key.
func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("crypto: a keyring key is %d bytes long, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
