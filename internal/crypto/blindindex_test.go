package crypto

import (
	"bytes"
	"testing"
)

var testIndexKey = []byte("0123456789abcdef0123456789abcdef")

func TestBlindIndexNormalisesEmailsOnly(t *testing.T) {
	tests := []struct {
		name        string
		kindA, a    string
		kindB, b    string
		wantTheSame bool
	}{
		{"e-mail case", "email", "Jane@Example.COM", "email", "jane@example.com", true},
		{"e-mail surrounding space", "email", " jane@example.com\t\n", "email", "jane@example.com", true},
		{"different e-mails", "email", "jane@example.com", "email", "john@example.com", false},
		{"PSIDs are exact", "psid", " 1234", "psid", "1234", false},
		{"PSID case kept", "psid", "abc", "psid", "ABC", false},
		{"kinds are separated", "email", "1", "psid", "1", false},
		{"kind and value do not run together", "ps", "id1", "psid", "1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := BlindIndex(testIndexKey, tc.kindA, tc.a), BlindIndex(testIndexKey, tc.kindB, tc.b)
			if bytes.Equal(a, b) != tc.wantTheSame {
				t.Errorf("BlindIndex(%s, %q) == BlindIndex(%s, %q) is %v, want %v", tc.kindA, tc.a, tc.kindB, tc.b, !tc.wantTheSame, tc.wantTheSame)
			}
		})
	}
}

func TestBlindIndexIsKeyedAndFixedSize(t *testing.T) {
	a := BlindIndex(testIndexKey, "psid", "1234")
	if len(a) != BlindIndexSize {
		t.Fatalf("a blind index is %d bytes, want %d", len(a), BlindIndexSize)
	}
	if !bytes.Equal(a, BlindIndex(testIndexKey, "psid", "1234")) {
		t.Fatal("the blind index is not deterministic")
	}
	if bytes.Equal(a, BlindIndex([]byte("another key, another tenant....."), "psid", "1234")) {
		t.Fatal("the blind index does not depend on the key")
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := map[string]string{
		"jane@example.com":        "jane@example.com",
		"  Jane.Doe@Example.Org ": "jane.doe@example.org",
		"\tJOHN@EXAMPLE.COM\n":    "john@example.com",
		"":                        "",
	}
	for in, want := range tests {
		if got := NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
