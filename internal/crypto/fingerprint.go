package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// FingerprintPrefix starts every subject fingerprint and names its algorithm.
const FingerprintPrefix = "hmac-sha256:"

// SubjectFingerprint is a keyed, irreversible name for a data subject, for
// the status of an ErasureRequest and for receipts: "hmac-sha256:" followed by
// 64 hex digits. The same subject always gets the same fingerprint under one
// key, and without the key nobody can compute one or test a guess.
//
// kind says what the identifier is, subject kind and identifier kind joined by
// a slash: "User/email", "User/id", "Lead/psid", "Lead/id". Different kinds
// never share a fingerprint, so user 42 and lead 42 stay apart. E-mail
// identifiers (a kind ending in "/email") are normalised with NormalizeEmail.
// The HMAC input starts with its own label, so a fingerprint differs from a
// blind index of the same identifier made with the same key.
func SubjectFingerprint(key []byte, kind, identifier string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("inboxchat-subject-v1\x00"))
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(normalize(kind, identifier)))
	return FingerprintPrefix + hex.EncodeToString(m.Sum(nil))
}
