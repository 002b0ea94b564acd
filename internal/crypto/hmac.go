package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// NormalizeEmail is the form of an e-mail address that the blind index and
// fingerprints hash: trimmed and lower-cased, so lookups are case-insensitive.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// BlindIndex is the keyed HMAC-SHA256 of a value of one kind (for example
// "email" or "psid"), stored beside the encrypted value so it can be looked up
// by equality without decrypting. E-mail addresses are normalised first.
func BlindIndex(key []byte, kind, value string) []byte {
	if kind == "email" {
		value = NormalizeEmail(value)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// SubjectFingerprint is a keyed, irreversible hash of a data subject's
// identifier, for status and receipts: the same subject gives the same
// fingerprint within a tenant, and nobody without the key can test a guess.
func SubjectFingerprint(key []byte, kind, identifier string) string {
	return "hmac-sha256:" + hex.EncodeToString(BlindIndex(key, "subject:"+kind, identifier))
}
