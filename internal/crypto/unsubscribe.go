package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Errors of Verify; none of them carries the token.
var (
	ErrTokenMalformed     = errors.New("unsubscribe token is malformed")
	ErrTokenSignature     = errors.New("unsubscribe token signature does not match")
	ErrTokenForeignTenant = errors.New("unsubscribe token belongs to another tenant")
)

// UnsubscribeClaims is what an unsubscribe token carries: opaque ids only,
// never a PSID, name or address.
type UnsubscribeClaims struct {
	Tenant    string    `json:"t"`
	LeadID    string    `json:"l"`
	Broadcast string    `json:"b"`
	IssuedAt  time.Time `json:"i"`
}

// SignUnsubscribe makes the token of an unsubscribe link: the claims as
// JSON, base64url, a dot, and the HMAC-SHA256 of the payload with the
// tenant's unsubscribe key.
func SignUnsubscribe(key []byte, c UnsubscribeClaims) string {
	c.IssuedAt = c.IssuedAt.UTC().Truncate(time.Second)
	payload, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(key, p))
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("inboxchat-unsubscribe-v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// VerifyUnsubscribe checks a token's signature with the tenant's key and that
// it was issued for tenant; forged, truncated, altered and foreign tokens are
// refused.
func VerifyUnsubscribe(key []byte, tenant, token string) (UnsubscribeClaims, error) {
	var c UnsubscribeClaims
	p, sig, ok := strings.Cut(token, ".")
	if !ok || p == "" || sig == "" || len(token) > 1024 {
		return c, ErrTokenMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return c, ErrTokenMalformed
	}
	if !hmac.Equal(got, mac(key, p)) {
		return c, ErrTokenSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(payload, &c) != nil || c.LeadID == "" || c.Tenant == "" {
		return UnsubscribeClaims{}, ErrTokenMalformed
	}
	if c.Tenant != tenant {
		return UnsubscribeClaims{}, ErrTokenForeignTenant
	}
	return c, nil
}
