package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of VerifyUnsubscribe. None of them carries the token.
var (
	// ErrTokenMalformed means the token is not one SignUnsubscribe makes:
	// truncated, with characters outside base64url, or an unreadable payload.
	ErrTokenMalformed = errors.New("crypto: the unsubscribe token is malformed")
	// ErrTokenSignature means the signature does not match the payload: the
	// token was forged, altered, or signed with another key.
	ErrTokenSignature = errors.New("crypto: the unsubscribe token's signature does not match")
	// ErrTokenForeignTenant means a correctly signed token names another
	// tenant than the one verifying it.
	ErrTokenForeignTenant = errors.New("crypto: the unsubscribe token belongs to another tenant")
)

// ErrTokenKey means the unsubscribe key is too short to sign or verify with;
// the tenant's app Secret is misconfigured.
var ErrTokenKey = errors.New("crypto: the unsubscribe key is shorter than 16 bytes")

// ErrTokenClaims means SignUnsubscribe was given claims it may not sign.
var ErrTokenClaims = errors.New("crypto: invalid unsubscribe claims")

// minTokenKeySize is the shortest key SignUnsubscribe and VerifyUnsubscribe
// accept.
const minTokenKeySize = 16

// maxTokenLen bounds the tokens VerifyUnsubscribe reads; real ones are
// about 150 characters.
const maxTokenLen = 1024

// tokenVersion is the version of the token payload and of its signature.
const tokenVersion = 1

// UnsubscribeClaims is what an unsubscribe token carries. It holds opaque ids
// only, never a PSID, name or address: the token travels in a URL, in clear.
type UnsubscribeClaims struct {
	// Tenant is the name of the Tenant the lead belongs to.
	Tenant string
	// LeadID is the lead's internal id in the tenant database (leads.id):
	// 1 to 64 characters of [A-Za-z0-9_-].
	LeadID string
	// Broadcast is the name of the Broadcast whose message carried the
	// link; it may be empty.
	Broadcast string
	// IssuedAt is when the token was made, kept to the second.
	IssuedAt time.Time
}

// tokenPayload is the signed JSON form of the claims.
type tokenPayload struct {
	Version   int    `json:"v"`
	Tenant    string `json:"t"`
	LeadID    string `json:"l"`
	Broadcast string `json:"b,omitempty"`
	IssuedAt  int64  `json:"i"`
}

var tokenEncoding = base64.RawURLEncoding.Strict()

// SignUnsubscribe makes the token of an unsubscribe link,
// https://<tenant host>/unsubscribe/<token>: the claims as compact JSON in
// URL-safe base64 without padding, a dot, and the HMAC-SHA256 of that payload
// under the tenant's unsubscribe key, also in URL-safe base64. It refuses a
// key shorter than 16 bytes (ErrTokenKey) and claims without a tenant, lead
// id or issue time, or with characters an opaque id does not have
// (ErrTokenClaims).
func SignUnsubscribe(key []byte, c UnsubscribeClaims) (string, error) {
	if len(key) < minTokenKeySize {
		return "", ErrTokenKey
	}
	if c.IssuedAt.IsZero() {
		return "", fmt.Errorf("%w: the issue time is missing", ErrTokenClaims)
	}
	p := tokenPayload{Version: tokenVersion, Tenant: c.Tenant, LeadID: c.LeadID, Broadcast: c.Broadcast, IssuedAt: c.IssuedAt.Unix()}
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("%w: %s", ErrTokenClaims, err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	payload := tokenEncoding.EncodeToString(raw)
	return payload + "." + tokenEncoding.EncodeToString(tokenMAC(key, payload)), nil
}

// VerifyUnsubscribe checks a token with the tenant's unsubscribe key and
// returns its claims. It returns ErrTokenMalformed for a truncated or
// garbled token, ErrTokenSignature for a forged or altered one or one signed
// with another key, ErrTokenForeignTenant for a valid token of another
// tenant, and ErrTokenKey when key is too short. The signature is compared in
// constant time, before the payload is read.
func VerifyUnsubscribe(key []byte, tenant, token string) (UnsubscribeClaims, error) {
	if len(key) < minTokenKeySize {
		return UnsubscribeClaims{}, ErrTokenKey
	}
	if len(token) > maxTokenLen || !onlyBytes(token, base64URLAlphabet+".") {
		return UnsubscribeClaims{}, ErrTokenMalformed
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || payload == "" {
		return UnsubscribeClaims{}, ErrTokenMalformed
	}
	got, err := tokenEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return UnsubscribeClaims{}, ErrTokenMalformed
	}
	if !hmac.Equal(got, tokenMAC(key, payload)) {
		return UnsubscribeClaims{}, ErrTokenSignature
	}
	raw, err := tokenEncoding.DecodeString(payload)
	if err != nil {
		return UnsubscribeClaims{}, ErrTokenMalformed
	}
	var p tokenPayload
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || dec.More() || p.Version != tokenVersion || p.validate() != nil {
		return UnsubscribeClaims{}, ErrTokenMalformed
	}
	if p.Tenant != tenant {
		return UnsubscribeClaims{}, ErrTokenForeignTenant
	}
	return UnsubscribeClaims{Tenant: p.Tenant, LeadID: p.LeadID, Broadcast: p.Broadcast, IssuedAt: time.Unix(p.IssuedAt, 0).UTC()}, nil
}

// tokenMAC is the signature of an encoded payload.
func tokenMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("inboxchat-unsubscribe-v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// validate checks that the payload holds opaque ids only.
func (p tokenPayload) validate() error {
	switch {
	case !isName(p.Tenant, 63, false):
		return errors.New("the tenant must be a Kubernetes object name")
	case p.Broadcast != "" && !isName(p.Broadcast, 253, true):
		return errors.New("the broadcast must be a Kubernetes object name")
	case p.LeadID == "" || len(p.LeadID) > 64 || !onlyBytes(p.LeadID, base64URLAlphabet):
		return errors.New("the lead id must be 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'")
	case p.IssuedAt <= 0:
		return errors.New("the issue time must be after 1970")
	}
	return nil
}

// onlyBytes reports whether every byte of s is one of allowed.
func onlyBytes(s, allowed string) bool {
	for i := range len(s) {
		if strings.IndexByte(allowed, s[i]) < 0 {
			return false
		}
	}
	return true
}

// isName reports whether s is a lower-case Kubernetes name of at most maxLen
// characters: a DNS label, or with dots a DNS subdomain.
func isName(s string, maxLen int, dots bool) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !alnum(c) && c != '-' && !(dots && c == '.') {
			return false
		}
	}
	return true
}
