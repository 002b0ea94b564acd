package crypto

import (
	"errors"
	"regexp"
	"testing"
)

func TestNextReceipt(t *testing.T) {
	r1 := NextReceipt("", []byte(`{"a":1}`))
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(r1) {
		t.Fatalf("receipt %q is not sha256: and 64 hex digits", r1)
	}
	if r1 != NextReceipt("", []byte(`{"a":1}`)) {
		t.Fatal("the same payload after the same receipt gave another receipt")
	}
	if r1 == NextReceipt("sha256:00", []byte(`{"a":1}`)) {
		t.Fatal("the receipt does not depend on the previous one")
	}
	if NextReceipt("a", []byte("bc")) == NextReceipt("ab", []byte("c")) {
		t.Fatal("the previous receipt and the payload run together")
	}
}

func TestVerifyReceiptChain(t *testing.T) {
	p := [][]byte{[]byte(`{"n":1}`), []byte(`{"n":2}`), []byte(`{"n":3}`)}
	r := make([]string, len(p))
	prev := "sha256:genesis"
	for i := range p {
		r[i] = NextReceipt(prev, p[i])
		prev = r[i]
	}
	tests := []struct {
		name     string
		genesis  string
		receipts []string
		payloads [][]byte
		ok       bool
	}{
		{"intact", "sha256:genesis", r, p, true},
		{"empty", "x", nil, nil, true},
		{"a later part", r[0], r[1:], p[1:], true},
		{"another genesis", "", r, p, false},
		{"altered payload", "sha256:genesis", r, [][]byte{p[0], []byte(`{"n":9}`), p[2]}, false},
		{"dropped entry", "sha256:genesis", []string{r[0], r[2]}, [][]byte{p[0], p[2]}, false},
		{"reordered", "sha256:genesis", []string{r[1], r[0], r[2]}, [][]byte{p[1], p[0], p[2]}, false},
		{"altered receipt", "sha256:genesis", []string{r[0], r[1], r[2] + "0"}, p, false},
		{"counts differ", "sha256:genesis", r, p[:2], false},
	}
	for _, tc := range tests {
		err := VerifyReceiptChain(tc.genesis, tc.receipts, tc.payloads)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrReceiptChain) {
			t.Errorf("%s: want ErrReceiptChain, got %v", tc.name, err)
		}
	}
}
