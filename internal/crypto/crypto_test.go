package crypto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

func TestKeyringSealsAndOpensAcrossRotations(t *testing.T) {
	kr, err := NewKeyring(t0)
	if err != nil {
		t.Fatal(err)
	}
	if kr.ActiveKeyID() != "k1" || kr.Len() != 1 {
		t.Fatalf("a new keyring has active key k1 alone, got %s (%d keys)", kr.ActiveKeyID(), kr.Len())
	}
	old, err := kr.Seal([]byte("jane@example.com"), []byte("users.email:1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(old, []byte("jane")) {
		t.Fatal("the ciphertext contains the plaintext")
	}
	if kr.DueForRotation(t0.Add(89*24*time.Hour), 90*24*time.Hour) {
		t.Fatal("due for rotation before the interval")
	}
	if !kr.DueForRotation(t0.Add(90*24*time.Hour), 90*24*time.Hour) {
		t.Fatal("not due for rotation at the interval")
	}
	if err := kr.Rotate(t0.Add(90 * 24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if kr.ActiveKeyID() != "k2" || kr.Len() != 2 {
		t.Fatalf("after a rotation the active key is k2 of 2, got %s of %d", kr.ActiveKeyID(), kr.Len())
	}
	fresh, _ := kr.Seal([]byte("new"), nil)
	if id, _ := KeyIDOf(fresh); id != "k2" {
		t.Fatalf("new data is sealed with %s, want k2", id)
	}

	data, err := kr.MarshalSecretData()
	if err != nil {
		t.Fatal(err)
	}
	back, err := KeyringFromSecretData(data)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := back.Open(old, []byte("users.email:1"))
	if err != nil || string(pt) != "jane@example.com" {
		t.Fatalf("data sealed before the rotation must open after it: %q %v", pt, err)
	}
	if _, err := back.Open(old, []byte("users.email:2")); !errors.Is(err, ErrCiphertext) {
		t.Fatalf("a ciphertext moved to another row must not open, got %v", err)
	}
	tampered := bytes.Clone(old)
	tampered[len(tampered)-1] ^= 1
	if _, err := back.Open(tampered, []byte("users.email:1")); !errors.Is(err, ErrCiphertext) {
		t.Fatalf("an altered ciphertext must not open, got %v", err)
	}
	delete(data, "key-k1")
	partial, err := KeyringFromSecretData(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := partial.Open(old, []byte("users.email:1")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("want ErrUnknownKey, got %v", err)
	}
}

func TestKeyringFromCorruptSecretData(t *testing.T) {
	good, _ := NewKeyring(t0)
	base, _ := good.MarshalSecretData()
	cases := map[string]func(map[string][]byte){
		"short key":      func(d map[string][]byte) { d["key-k1"] = d["key-k1"][:16] },
		"no active":      func(d map[string][]byte) { delete(d, "active") },
		"active missing": func(d map[string][]byte) { d["active"] = []byte("k9") },
		"bad rotated-at": func(d map[string][]byte) { d["rotated-at"] = []byte("yesterday") },
		"invalid key id": func(d map[string][]byte) { d["key-x"] = make([]byte, 32) },
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			d := map[string][]byte{}
			for k, v := range base {
				d[k] = bytes.Clone(v)
			}
			corrupt(d)
			if _, err := KeyringFromSecretData(d); err == nil {
				t.Fatal("a corrupt keyring was accepted")
			}
		})
	}
}

func TestBlindIndexAndFingerprint(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	if !bytes.Equal(BlindIndex(key, "email", " Jane@Example.com "), BlindIndex(key, "email", "jane@example.com")) {
		t.Fatal("the e-mail blind index must ignore case and surrounding space")
	}
	if bytes.Equal(BlindIndex(key, "email", "1"), BlindIndex(key, "psid", "1")) {
		t.Fatal("different kinds must not share index values")
	}
	if bytes.Equal(BlindIndex(key, "psid", "1"), BlindIndex([]byte("other key 0123456789abcdef012345"), "psid", "1")) {
		t.Fatal("the blind index must depend on the key")
	}
	fp := SubjectFingerprint(key, "User", "jane@example.com")
	if !strings.HasPrefix(fp, "hmac-sha256:") || strings.Contains(fp, "jane") || len(fp) != len("hmac-sha256:")+64 {
		t.Fatalf("unexpected fingerprint %q", fp)
	}
}

func TestReceiptChain(t *testing.T) {
	p := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}
	r1 := NextReceipt("", p[0])
	r2 := NextReceipt(r1, p[1])
	if err := VerifyReceiptChain("", []string{r1, r2}, p); err != nil {
		t.Fatal(err)
	}
	if err := VerifyReceiptChain("", []string{r1, r2}, [][]byte{p[0], []byte(`{"b":3}`)}); err == nil {
		t.Fatal("an altered payload must break the chain")
	}
	if NextReceipt("x", p[0]) == r1 {
		t.Fatal("the receipt must depend on the previous one")
	}
}

func TestUnsubscribeTokens(t *testing.T) {
	key := []byte("tenant-a unsubscribe key 0123456")
	c := UnsubscribeClaims{Tenant: "a", LeadID: "1001", Broadcast: "news", IssuedAt: t0}
	tok := SignUnsubscribe(key, c)
	got, err := VerifyUnsubscribe(key, "a", tok)
	if err != nil || got.LeadID != "1001" || got.Broadcast != "news" || !got.IssuedAt.Equal(t0) {
		t.Fatalf("a valid token must verify: %+v %v", got, err)
	}
	p, sig, _ := strings.Cut(tok, ".")
	forgedPayload := SignUnsubscribe(key, UnsubscribeClaims{Tenant: "a", LeadID: "1002", IssuedAt: t0})
	fp, _, _ := strings.Cut(forgedPayload, ".")
	cases := []struct {
		name, token string
		want        error
	}{
		{"truncated", tok[:len(tok)-3], ErrTokenMalformed},
		{"no signature", p, ErrTokenMalformed},
		{"payload swapped", fp + "." + sig, ErrTokenSignature},
		{"other key", SignUnsubscribe([]byte("another key 0123456789abcdef0123"), c), ErrTokenSignature},
		{"foreign tenant", SignUnsubscribe(key, UnsubscribeClaims{Tenant: "b", LeadID: "1", IssuedAt: t0}), ErrTokenForeignTenant},
		{"garbage", "%%%.%%%", ErrTokenMalformed},
	}
	for _, tc := range cases {
		if _, err := VerifyUnsubscribe(key, "a", tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: want %v, got %v", tc.name, tc.want, err)
		}
	}
}

func FuzzVerifyUnsubscribe(f *testing.F) {
	key := []byte("fuzz key 0123456789abcdef0123456")
	f.Add(SignUnsubscribe(key, UnsubscribeClaims{Tenant: "a", LeadID: "1", IssuedAt: t0}))
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := VerifyUnsubscribe(key, "a", token)
		if err == nil && (c.Tenant != "a" || c.LeadID == "") {
			t.Fatalf("accepted a token with claims %+v", c)
		}
	})
}
