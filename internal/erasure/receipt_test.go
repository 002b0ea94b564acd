package erasure

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

func TestReceiptPayloadIsCanonical(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 123, time.FixedZone("CET", 3600))
	a := Result{Request: "uid-1", Kind: datamap.User, Mode: ExportThenErase, Fingerprint: "hmac-sha256:ab",
		Stores: []StoreResult{{Name: "sessions", Erased: 3}, {Name: "database", Erased: 6, Retained: 2, RetainedReason: "security: security_log kept for 720h"}},
		Export: &ExportInfo{Location: "exports/uid-1.json.enc", SHA256: "ff", ExpiresAt: at}}
	b := a
	b.Stores = []StoreResult{a.Stores[1], a.Stores[0]}
	b.Export = &ExportInfo{Location: a.Export.Location, SHA256: "ff", ExpiresAt: at.UTC().Truncate(time.Second)}
	if string(a.ReceiptPayload()) != string(b.ReceiptPayload()) {
		t.Errorf("the same results in another order or time zone give different payloads:\n%s\n%s", a.ReceiptPayload(), b.ReceiptPayload())
	}
	var decoded map[string]any
	if err := json.Unmarshal(a.ReceiptPayload(), &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded["subjectFingerprint"] != "hmac-sha256:ab" || !strings.Contains(string(a.ReceiptPayload()), `"expiresAt":"2026-12-06T07:00:00Z"`) {
		t.Errorf("payload %s", a.ReceiptPayload())
	}
	c := a
	c.Stores = []StoreResult{{Name: "sessions", Erased: 3}, {Name: "database", Erased: 7, Retained: 2}}
	if crypto.NextReceipt("", a.ReceiptPayload()) == crypto.NextReceipt("", c.ReceiptPayload()) {
		t.Error("different counts give the same receipt")
	}
	if got := (Result{}).ReceiptPayload(); !strings.Contains(string(got), `"stores":[]`) {
		t.Errorf("an empty result's payload %s", got)
	}
}
