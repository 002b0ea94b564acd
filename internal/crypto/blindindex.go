package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
)

// BlindIndexSize is the length in bytes of a blind index (HMAC-SHA256).
const BlindIndexSize = sha256.Size

// NormalizeEmail is the form of an e-mail address that the blind index and
// subject fingerprints hash: surrounding white space trimmed and every letter
// lower-cased, so that " Jane@Example.com" and "jane@example.com" look up the
// same account. The local part is lower-cased too: the reference app treats
// addresses case-insensitively, as nearly every mail provider does.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// BlindIndex is the keyed HMAC-SHA256 of a value of one kind, stored beside
// the encrypted value (the _bidx columns) so that it can be found by equality
// without decrypting anything. kind is the data map's identifier kind
// ("email", "psid", ...) and separates the kinds: the same value under two
// kinds gives two unrelated indexes. Values of kind "email" (or of a kind
// ending in "/email") are normalised with NormalizeEmail first; other values
// are hashed exactly as given.
//
// The result is 32 bytes: HMAC-SHA256(key, kind || 0x00 || value). Without
// the key, nobody can compute or test an index value.
func BlindIndex(key []byte, kind, value string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(normalize(kind, value)))
	return m.Sum(nil)
}

// normalize puts a value in the form that is hashed for its kind: e-mail
// addresses (kind "email", or a kind ending in "/email") by NormalizeEmail,
// anything else unchanged.
func normalize(kind, value string) string {
	if kind == "email" || strings.HasSuffix(kind, "/email") {
		return NormalizeEmail(value)
	}
	return value
}
