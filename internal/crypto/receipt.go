package crypto

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// ReceiptPrefix starts every receipt and names its hash.
const ReceiptPrefix = "sha256:"

// ErrReceiptChain means a sequence of receipts does not chain: a receipt or
// a payload was altered, dropped, inserted or reordered.
var ErrReceiptChain = errors.New("crypto: the receipt chain is broken")

// NextReceipt chains a receipt to the previous one ("" for a tenant's first):
// "sha256:" and the hex SHA-256 of previous, a zero byte and payload.
// payload must be canonical, the same bytes for the same results every time
// (json.Marshal of a struct is). Altering, dropping or reordering any receipt
// or payload changes every receipt after it.
func NextReceipt(previous string, payload []byte) string {
	h := sha256.New()
	h.Write([]byte(previous))
	h.Write([]byte{0})
	h.Write(payload)
	return ReceiptPrefix + hex.EncodeToString(h.Sum(nil))
}

// VerifyReceiptChain checks that receipts[i] == NextReceipt(receipts[i-1],
// payloads[i]) for every i, starting from genesis (the receipt before the
// first, "" for a tenant's first). Its errors wrap ErrReceiptChain and name
// the first entry that does not chain.
func VerifyReceiptChain(genesis string, receipts []string, payloads [][]byte) error {
	if len(receipts) != len(payloads) {
		return fmt.Errorf("%w: %d receipts for %d payloads", ErrReceiptChain, len(receipts), len(payloads))
	}
	prev := genesis
	for i, r := range receipts {
		if NextReceipt(prev, payloads[i]) != r {
			return fmt.Errorf("%w at entry %d", ErrReceiptChain, i)
		}
		prev = r
	}
	return nil
}
