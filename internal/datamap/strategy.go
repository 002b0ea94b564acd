package datamap

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Strategy says what erasure does with a field (SQL) or with a whole key or
// folder (Redis, files).
type Strategy string

const (
	// Delete removes the subject's row (if any of its fields says delete),
	// key or folder.
	Delete Strategy = "delete"
	// Null sets the column to NULL and keeps the row. SQL only.
	Null Strategy = "null"
	// Hash replaces the value with a keyed hash (HMAC-SHA256 with the
	// tenant's erasure key) and keeps the row, so aggregates and joins
	// survive while the value is gone. SQL only.
	Hash Strategy = "hash"
	// Retain keeps the data for a stated reason and period; erasure reports
	// it as retained and the prune job removes it when the period is over.
	Retain Strategy = "retain"
)

// strategies lists the strategies in documentation order.
var strategies = []Strategy{Delete, Null, Hash, Retain}

// known reports whether s is a strategy.
func (s Strategy) known() bool { return slices.Contains(strategies, s) }

// Retention is why and for how long retained data is kept. It is set only
// with strategy retain.
type Retention struct {
	// Reason is the legal basis or purpose, e.g. "security"; it is shown in
	// the erasure report. Required with strategy retain.
	Reason string `json:"reason,omitempty"`
	// Period is how long the data is kept. Required with strategy retain.
	Period Period `json:"period,omitempty"`
	// Since names the timestamp column the period counts from (SQL only,
	// required there), e.g. created_at. Redis keys carry a TTL and files
	// their modification time instead.
	Since string `json:"since,omitempty"`
}

// RetentionPrefix starts a Period that refers to a Tenant setting.
const RetentionPrefix = "retention."

// RetentionSettings lists the Tenant spec.retention fields a Period may
// refer to, e.g. "retention.securityLogs".
var RetentionSettings = []string{"securityLogs", "exports"}

// Period is a retention period: either a Go duration ("2160h") or a reference
// to a Tenant setting ("retention.securityLogs"), resolved per tenant.
type Period string

// Setting returns the Tenant spec.retention field p refers to, if it is a
// reference.
func (p Period) Setting() (string, bool) {
	return strings.CutPrefix(string(p), RetentionPrefix)
}

// Resolve returns the period's length. settings maps Tenant spec.retention
// field names (e.g. "securityLogs") to their values and is consulted only
// for references.
func (p Period) Resolve(settings map[string]time.Duration) (time.Duration, error) {
	if name, ok := p.Setting(); ok {
		d, ok := settings[name]
		if !ok {
			return 0, fmt.Errorf("period %q: the tenant sets no retention.%s", p, name)
		}
		return d, nil
	}
	return parsePositiveDuration(string(p))
}

// validate checks that p is a known reference or a positive duration.
func (p Period) validate() error {
	if p == "" {
		return fmt.Errorf("required with strategy %q", Retain)
	}
	if name, ok := p.Setting(); ok {
		if !slices.Contains(RetentionSettings, name) {
			return fmt.Errorf("unknown setting %q: want a Go duration or one of %s", p, retentionRefs())
		}
		return nil
	}
	if _, err := parsePositiveDuration(string(p)); err != nil {
		return fmt.Errorf("%v: want a Go duration such as \"720h\" or one of %s", err, retentionRefs())
	}
	return nil
}

// parsePositiveDuration parses a Go duration that must be positive.
func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid period %q", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("period %q is not positive", s)
	}
	return d, nil
}

// retentionRefs lists the valid references for messages.
func retentionRefs() string {
	refs := make([]string, len(RetentionSettings))
	for i, s := range RetentionSettings {
		refs[i] = fmt.Sprintf("%q", RetentionPrefix+s)
	}
	return strings.Join(refs, ", ")
}
