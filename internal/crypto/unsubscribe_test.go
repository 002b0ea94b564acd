package crypto

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	tenantAKey = []byte("tenant-a unsubscribe key 0123456")
	tenantBKey = []byte("tenant-b unsubscribe key 0123456")
	claimsA    = UnsubscribeClaims{Tenant: "acme", LeadID: "1001", Broadcast: "spring-sale", IssuedAt: t0}
)

// sign signs claims or fails the test.
func sign(t testing.TB, key []byte, c UnsubscribeClaims) string {
	t.Helper()
	tok, err := SignUnsubscribe(key, c)
	if err != nil {
		t.Fatalf("SignUnsubscribe(%+v): %v", c, err)
	}
	return tok
}

func TestUnsubscribeTokenRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   UnsubscribeClaims
		want UnsubscribeClaims
	}{
		{"all claims", claimsA, claimsA},
		{"no broadcast", UnsubscribeClaims{Tenant: "acme", LeadID: "7", IssuedAt: t0}, UnsubscribeClaims{Tenant: "acme", LeadID: "7", IssuedAt: t0}},
		{"issue time kept to the second, in UTC",
			UnsubscribeClaims{Tenant: "acme", LeadID: "lead_9-x", Broadcast: "news.2026", IssuedAt: t0.Add(700 * time.Millisecond).In(time.FixedZone("CET", 3600))},
			UnsubscribeClaims{Tenant: "acme", LeadID: "lead_9-x", Broadcast: "news.2026", IssuedAt: t0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, tenantAKey, tc.in)
			if strings.ContainsAny(tok, "+/=") || strings.Count(tok, ".") != 1 {
				t.Fatalf("token %q is not two URL-safe base64 parts without padding", tok)
			}
			got, err := VerifyUnsubscribe(tenantAKey, "acme", tok)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("claims = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestUnsubscribeTokenCarriesOpaqueIDsOnly(t *testing.T) {
	tok := sign(t, tenantAKey, claimsA)
	payload, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":1,"t":"acme","l":"1001","b":"spring-sale","i":1795939200}`; string(raw) != want {
		t.Fatalf("payload = %s, want %s", raw, want)
	}
}

func TestVerifyUnsubscribeRefusesBadTokens(t *testing.T) {
	tok := sign(t, tenantAKey, claimsA)
	payload, sig, _ := strings.Cut(tok, ".")
	otherLead, _, _ := strings.Cut(sign(t, tenantAKey, UnsubscribeClaims{Tenant: "acme", LeadID: "1002", IssuedAt: t0}), ".")
	unsignedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"t":"acme","l":"1002","i":1795939200}`))
	// The signature's last character carries two unused bits; a token that
	// differs only there must not verify.
	lastSig := strings.IndexByte(base64URLAlphabet, sig[len(sig)-1])
	sigVariant := sig[:len(sig)-1] + string(base64URLAlphabet[lastSig^1])

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrTokenMalformed},
		{"garbage", "%%%.%%%", ErrTokenMalformed},
		{"payload only", payload, ErrTokenMalformed},
		{"payload and a dot", payload + ".", ErrTokenMalformed},
		{"signature only", "." + sig, ErrTokenMalformed},
		{"truncated signature", tok[:len(tok)-3], ErrTokenMalformed},
		{"extra part", tok + ".x", ErrTokenMalformed},
		{"padding", tok + "=", ErrTokenMalformed},
		{"line break", payload + "." + sig[:10] + "\n" + sig[10:], ErrTokenMalformed},
		{"unused signature bits", payload + "." + sigVariant, ErrTokenMalformed},
		{"too long", strings.Repeat("a", 2000) + "." + sig, ErrTokenMalformed},
		{"truncated payload", payload[:len(payload)-2] + "." + sig, ErrTokenSignature},
		{"payload of another lead", otherLead + "." + sig, ErrTokenSignature},
		{"forged payload", unsignedPayload + "." + sig, ErrTokenSignature},
		{"signed with another tenant's key", sign(t, tenantBKey, claimsA), ErrTokenSignature},
		{"another tenant's token", sign(t, tenantAKey, UnsubscribeClaims{Tenant: "globex", LeadID: "1001", IssuedAt: t0}), ErrTokenForeignTenant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyUnsubscribe(tenantAKey, "acme", tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got claims %+v and error %v", tc.want, got, err)
			}
			if got != (UnsubscribeClaims{}) {
				t.Errorf("a refused token returned claims %+v", got)
			}
		})
	}
}

func TestVerifyUnsubscribeRefusesValidlySignedBadPayloads(t *testing.T) {
	tests := []struct{ name, json string }{
		{"not JSON", `lead 1001`},
		{"unknown version", `{"v":2,"t":"acme","l":"1001","i":1795939200}`},
		{"no lead", `{"v":1,"t":"acme","i":1795939200}`},
		{"an e-mail for a lead id", `{"v":1,"t":"acme","l":"jane@example.com","i":1795939200}`},
		{"unknown field", `{"v":1,"t":"acme","l":"1001","i":1795939200,"psid":"123"}`},
		{"trailing data", `{"v":1,"t":"acme","l":"1001","i":1795939200} {}`},
		{"no issue time", `{"v":1,"t":"acme","l":"1001"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base64.RawURLEncoding.EncodeToString([]byte(tc.json))
			tok := p + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(tenantAKey, p))
			if _, err := VerifyUnsubscribe(tenantAKey, "acme", tok); !errors.Is(err, ErrTokenMalformed) {
				t.Fatalf("want ErrTokenMalformed, got %v", err)
			}
		})
	}
}

func TestSignUnsubscribeRefusesBadClaims(t *testing.T) {
	with := func(f func(*UnsubscribeClaims)) UnsubscribeClaims {
		c := claimsA
		f(&c)
		return c
	}
	tests := []struct {
		name   string
		key    []byte
		claims UnsubscribeClaims
		want   error
	}{
		{"no key", nil, claimsA, ErrTokenKey},
		{"short key", []byte("15 bytes secret"), claimsA, ErrTokenKey},
		{"no tenant", tenantAKey, with(func(c *UnsubscribeClaims) { c.Tenant = "" }), ErrTokenClaims},
		{"tenant not a name", tenantAKey, with(func(c *UnsubscribeClaims) { c.Tenant = "Acme Inc" }), ErrTokenClaims},
		{"no lead id", tenantAKey, with(func(c *UnsubscribeClaims) { c.LeadID = "" }), ErrTokenClaims},
		{"e-mail as lead id", tenantAKey, with(func(c *UnsubscribeClaims) { c.LeadID = "jane@example.com" }), ErrTokenClaims},
		{"name as lead id", tenantAKey, with(func(c *UnsubscribeClaims) { c.LeadID = "Jane Doe" }), ErrTokenClaims},
		{"lead id too long", tenantAKey, with(func(c *UnsubscribeClaims) { c.LeadID = strings.Repeat("1", 65) }), ErrTokenClaims},
		{"broadcast not a name", tenantAKey, with(func(c *UnsubscribeClaims) { c.Broadcast = "-sale" }), ErrTokenClaims},
		{"no issue time", tenantAKey, with(func(c *UnsubscribeClaims) { c.IssuedAt = time.Time{} }), ErrTokenClaims},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tok, err := SignUnsubscribe(tc.key, tc.claims); !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got token %q and error %v", tc.want, tok, err)
			}
		})
	}
	if _, err := VerifyUnsubscribe([]byte("short"), "acme", sign(t, tenantAKey, claimsA)); !errors.Is(err, ErrTokenKey) {
		t.Fatalf("verifying with a short key: want ErrTokenKey, got %v", err)
	}
}

func FuzzVerifyUnsubscribe(f *testing.F) {
	f.Add(sign(f, tenantAKey, claimsA))
	f.Add(sign(f, tenantAKey, UnsubscribeClaims{Tenant: "globex", LeadID: "1", IssuedAt: t0}))
	f.Add("a.b")
	f.Add(".")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := VerifyUnsubscribe(tenantAKey, "acme", token)
		if err != nil {
			if !errors.Is(err, ErrTokenMalformed) && !errors.Is(err, ErrTokenSignature) && !errors.Is(err, ErrTokenForeignTenant) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// An accepted token is exactly the one its claims sign to: tokens
		// cannot be re-encoded into other strings that still verify.
		if again := sign(t, tenantAKey, c); again != token {
			t.Fatalf("accepted %q, which differs from the signed form %q of its claims", token, again)
		}
	})
}
