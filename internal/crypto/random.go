package crypto

import (
	"crypto/rand"
	"encoding/base64"
)

// GenerateSecret returns n random bytes in URL-safe base64 without padding
// (4n/3 characters, rounded up), for generated passwords and keys: safe in
// URLs, DSNs, environment variables and configuration files. It returns ""
// when n is not positive.
func GenerateSecret(n int) string {
	if n <= 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))
}

// randomBytes returns n bytes from the operating system's random source.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error: since Go 1.24 it aborts the
	// program if the system's random source fails.
	_, _ = rand.Read(b)
	return b
}
