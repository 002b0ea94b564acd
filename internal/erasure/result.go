package erasure

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// Result is the outcome of a request, without personal data: what the
// ErasureRequest status reports.
type Result struct {
	// Request is the request UID.
	Request string
	// Kind is the subject kind.
	Kind datamap.SubjectKind
	// Mode is the request's mode.
	Mode Mode
	// DryRun is set when nothing was changed: Erased and Retained then say
	// what erasure would do, and Exported what an export would hold.
	DryRun bool
	// Fingerprint is the subject's keyed fingerprint
	// (crypto.SubjectFingerprint), never the identifier.
	Fingerprint string
	// Stores holds one entry per store of the data map, in its order.
	Stores []StoreResult
	// Export locates the export; nil when none was made.
	Export *ExportInfo
}

// StoreResult is a request's outcome in one store. Records are rows (sql),
// keys (redis), and files and folders (files).
type StoreResult struct {
	// Name is the data map's store name.
	Name string `json:"name"`
	// Erased counts the records deleted or, for "null" and "hash"
	// strategies, rewritten.
	Erased int64 `json:"erased"`
	// Retained counts the records kept on purpose.
	Retained int64 `json:"retained"`
	// RetainedReason says why, e.g. "security: security_log kept for 720h"
	// or "legal hold: litigation"; reasons are joined with "; ".
	RetainedReason string `json:"retainedReason,omitempty"`
	// Remaining counts what the verifying re-query still found that should
	// be gone; a completed erasure has 0 everywhere. It is 0 when nothing
	// was to be erased (Export mode, dry runs).
	Remaining int64 `json:"remaining"`
	// Exported counts the records in the export (or, in a dry run, that an
	// export would hold).
	Exported int64 `json:"exported,omitempty"`
}

// ExportInfo locates an export.
type ExportInfo struct {
	// Location is the archive's path relative to the files volume root,
	// exports/<request uid>.json.enc.
	Location string `json:"location"`
	// SHA256 is the hex SHA-256 of the sealed archive file.
	SHA256 string `json:"sha256"`
	// ExpiresAt is when the prune worker may remove the archive: its
	// creation plus the tenant's exports retention.
	ExpiresAt time.Time `json:"expiresAt"`
}

// Totals sums the stores' counts.
func (r Result) Totals() StoreResult {
	var t StoreResult
	for _, s := range r.Stores {
		t.Erased += s.Erased
		t.Retained += s.Retained
		t.Remaining += s.Remaining
		t.Exported += s.Exported
	}
	return t
}

// receiptVersion versions the receipt payload's format.
const receiptVersion = 1

// receiptPayload is what ReceiptPayload serialises.
type receiptPayload struct {
	Version     int                 `json:"version"`
	Request     string              `json:"request"`
	Kind        datamap.SubjectKind `json:"subjectKind"`
	Fingerprint string              `json:"subjectFingerprint"`
	Mode        Mode                `json:"mode"`
	DryRun      bool                `json:"dryRun"`
	Stores      []StoreResult       `json:"stores"`
	Export      *receiptExport      `json:"export,omitempty"`
}

// receiptExport is the export in a receipt payload, its time in UTC to the
// second.
type receiptExport struct {
	Location  string `json:"location"`
	SHA256    string `json:"sha256"`
	ExpiresAt string `json:"expiresAt"`
}

// ReceiptPayload returns the canonical bytes a receipt hashes
// (crypto.NextReceipt): compact JSON of the request UID, subject kind and
// fingerprint, mode, dry run, each store's counts sorted by store name, and
// the export's location, digest and expiry. The same Result always gives
// the same bytes, and they hold no personal data.
func (r Result) ReceiptPayload() []byte {
	p := receiptPayload{
		Version: receiptVersion, Request: r.Request, Kind: r.Kind, Fingerprint: r.Fingerprint,
		Mode: r.Mode, DryRun: r.DryRun, Stores: slices.Clone(r.Stores),
	}
	if p.Stores == nil {
		p.Stores = []StoreResult{}
	}
	slices.SortFunc(p.Stores, func(a, b StoreResult) int { return strings.Compare(a.Name, b.Name) })
	if r.Export != nil {
		p.Export = &receiptExport{Location: r.Export.Location, SHA256: r.Export.SHA256,
			ExpiresAt: r.Export.ExpiresAt.UTC().Truncate(time.Second).Format(time.RFC3339)}
	}
	b, err := json.Marshal(p)
	if err != nil {
		// Strings, integers and booleans always marshal.
		panic("erasure: marshalling a receipt payload: " + err.Error())
	}
	return b
}
