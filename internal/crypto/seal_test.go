package crypto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealOpensWithTheSameAssociatedData(t *testing.T) {
	kr := newTestKeyring(t)
	tests := []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"e-mail bound to a row", []byte("jane@example.com"), []byte("users.email_enc:1")},
		{"no associated data", []byte("hello"), nil},
		{"empty plaintext", []byte{}, []byte("messages.text_enc:9")},
		{"binary with separators", []byte("v1:k1:\x00\xff:"), []byte{0, ':'}},
		{"large", bytes.Repeat([]byte("0123456789"), 10_000), []byte("x")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sealed, err := kr.Seal(tc.plaintext, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if want := len("v1:k1:") + 12 + len(tc.plaintext) + 16; len(sealed) != want {
				t.Errorf("sealed length = %d, want %d (prefix, nonce, ciphertext, tag)", len(sealed), want)
			}
			if !bytes.HasPrefix(sealed, []byte("v1:k1:")) {
				t.Errorf("sealed value starts %q, want v1:k1:", sealed[:min(len(sealed), 6)])
			}
			got, err := kr.Open(sealed, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Error("Open did not return the sealed plaintext")
			}
		})
	}
}

func TestSealHidesThePlaintext(t *testing.T) {
	kr := newTestKeyring(t)
	secret := []byte("jane.doe@example.com")
	a, _ := kr.Seal(secret, nil)
	b, _ := kr.Seal(secret, nil)
	if bytes.Contains(a, []byte("jane")) {
		t.Error("the sealed value contains the plaintext")
	}
	if bytes.Equal(a, b) {
		t.Error("sealing the same value twice gave the same ciphertext: nonces are reused")
	}
}

func TestOpenAcrossRotations(t *testing.T) {
	kr := newTestKeyring(t)
	ad := []byte("users.name_enc:7")
	old, err := kr.Seal([]byte("Jane"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Rotate(t0.Add(90 * day)); err != nil {
		t.Fatal(err)
	}
	fresh, err := kr.Seal([]byte("Jane"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyIDOf(fresh); id != "k2" {
		t.Errorf("data sealed after the rotation names key %q, want k2", id)
	}
	back, err := KeyringFromSecretData(secretData(t, kr))
	if err != nil {
		t.Fatal(err)
	}
	for name, sealed := range map[string][]byte{"before the rotation": old, "after the rotation": fresh} {
		if got, err := back.Open(sealed, ad); err != nil || string(got) != "Jane" {
			t.Errorf("data sealed %s does not open from the stored keyring: %v", name, err)
		}
	}
}

func TestOpenRefusesBadCiphertexts(t *testing.T) {
	kr := newTestKeyring(t)
	ad := []byte("users.email_enc:1")
	sealed, err := kr.Seal([]byte("jane@example.com"), ad)
	if err != nil {
		t.Fatal(err)
	}
	prefix := len("v1:k1:")
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	other := newTestKeyring(t) // also has a key k1, a different one
	foreign, _ := other.Seal([]byte("jane@example.com"), ad)

	tests := []struct {
		name       string
		ciphertext []byte
		ad         []byte
		want       error
	}{
		{"moved to another row", sealed, []byte("users.email_enc:2"), ErrCiphertext},
		{"associated data dropped", sealed, nil, ErrCiphertext},
		{"nonce altered", flip(prefix), ad, ErrCiphertext},
		{"ciphertext altered", flip(prefix + 12), ad, ErrCiphertext},
		{"tag altered", flip(len(sealed) - 1), ad, ErrCiphertext},
		{"truncated tag", sealed[:len(sealed)-1], ad, ErrCiphertext},
		{"only the prefix", sealed[:prefix], ad, ErrCiphertext},
		{"shorter than a nonce and tag", sealed[:prefix+27], ad, ErrCiphertext},
		{"empty", nil, ad, ErrCiphertext},
		{"plaintext", []byte("jane@example.com"), ad, ErrCiphertext},
		{"unknown version", append([]byte("v2"), sealed[2:]...), ad, ErrCiphertext},
		{"invalid key id", append([]byte("v1:kx:"), sealed[prefix:]...), ad, ErrCiphertext},
		{"key id without an end", []byte("v1:k1111111111111111111111111111111"), ad, ErrCiphertext},
		{"key not in the keyring", append([]byte("v1:k2:"), sealed[prefix:]...), ad, ErrUnknownKey},
		{"another tenant's keyring", foreign, ad, ErrCiphertext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kr.Open(tc.ciphertext, tc.ad)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %q, %v; want error %v", got, err, tc.want)
			}
			if strings.Contains(err.Error(), "jane") {
				t.Errorf("the error %q reveals the plaintext", err)
			}
		})
	}
}

func TestKeyIDOf(t *testing.T) {
	tests := []struct {
		sealed string
		want   string
		ok     bool
	}{
		{"v1:k1:nonce-and-body", "k1", true},
		{"v1:k12:\x00:", "k12", true},
		{"v1:k1", "", false},
		{"v1::x", "", false},
		{"v1:k0:x", "", false},
		{"k1:x", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, err := KeyIDOf([]byte(tc.sealed))
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("KeyIDOf(%q) = %q, %v; want %q, ok=%v", tc.sealed, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzOpen(f *testing.F) {
	kr := newTestKeyring(f)
	sealed, err := kr.Seal([]byte("plaintext"), []byte("ad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, []byte("ad"))
	f.Add([]byte("v1:k1:"), []byte(nil))
	f.Add([]byte("v1:k2:0123456789012345678901234567"), []byte(nil))
	f.Fuzz(func(t *testing.T, ciphertext, ad []byte) {
		got, err := kr.Open(ciphertext, ad)
		switch {
		case err == nil:
			if !bytes.Equal(ciphertext, sealed) || !bytes.Equal(ad, []byte("ad")) || string(got) != "plaintext" {
				t.Fatalf("Open accepted a ciphertext it never sealed: %q", ciphertext)
			}
		case !errors.Is(err, ErrCiphertext) && !errors.Is(err, ErrUnknownKey):
			t.Fatalf("Open failed with an unexpected error: %v", err)
		}
	})
}
