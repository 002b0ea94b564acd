package crypto

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// NextReceipt chains a receipt to the previous one: sha256 over the previous
// receipt and the canonical payload (the caller serialises it
// deterministically). Altering or dropping any receipt breaks the chain.
func NextReceipt(previous string, payload []byte) string {
	h := sha256.New()
	h.Write([]byte(previous))
	h.Write([]byte{0})
	h.Write(payload)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// VerifyReceiptChain checks receipts[i] == NextReceipt(receipts[i-1],
// payloads[i]), starting from genesis.
func VerifyReceiptChain(genesis string, receipts []string, payloads [][]byte) error {
	if len(receipts) != len(payloads) {
		return errors.New("crypto: receipts and payloads differ in number")
	}
	prev := genesis
	for i, r := range receipts {
		if NextReceipt(prev, payloads[i]) != r {
			return fmt.Errorf("crypto: the receipt chain is broken at entry %d", i)
		}
		prev = r
	}
	return nil
}
