package crypto

import (
	"crypto/rand"
	"encoding/base64"
)

// GenerateSecret returns n random bytes encoded URL-safe without padding,
// for generated passwords and keys.
func GenerateSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
