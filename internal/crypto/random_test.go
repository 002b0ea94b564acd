package crypto

import (
	"encoding/base64"
	"testing"
)

func TestGenerateSecret(t *testing.T) {
	tests := []struct{ n, wantLen int }{{32, 43}, {24, 32}, {1, 2}, {0, 0}, {-1, 0}}
	for _, tc := range tests {
		s := GenerateSecret(tc.n)
		if len(s) != tc.wantLen {
			t.Errorf("GenerateSecret(%d) is %d characters, want %d", tc.n, len(s), tc.wantLen)
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != max(tc.n, 0) {
			t.Errorf("GenerateSecret(%d) = %q is not %d bytes of URL-safe base64: %v", tc.n, s, tc.n, err)
		}
	}
	if GenerateSecret(32) == GenerateSecret(32) {
		t.Error("two generated secrets are equal")
	}
}
