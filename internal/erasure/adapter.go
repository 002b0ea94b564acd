package erasure

import (
	"context"
	"slices"
	"strings"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// storeAdapter finds, exports, erases and verifies a subject's records in
// one store, one plan step at a time. There is one adapter per store kind.
type storeAdapter interface {
	// Count returns, without changing anything, what the step holds of the
	// target's subjects: Erased is what erasure would remove, Retained what
	// it would keep.
	Count(ctx context.Context, t target) (tally, error)
	// Export adds the step's records of the target's subjects to c and
	// returns how many it added.
	Export(ctx context.Context, t target, c *ArchiveCollection) (int64, error)
	// Erase removes the step's records of the target's subjects, records
	// the step in the ledger as done (with t.held added to its counts)
	// exactly once per request, and returns the step's recorded tally. A
	// step the ledger shows as done is not run again; with t.again it is
	// run again and its counts grow.
	Erase(ctx context.Context, t target) (tally, error)
	// Verify queries the step again: Remaining is what should be gone but
	// is not, Retained what is kept on purpose.
	Verify(ctx context.Context, t target) (tally, error)
}

// tenantAdapter exports or erases everything of one collection, for
// offboarding.
type tenantAdapter interface {
	// EraseAll deletes every record of the collection and returns how many.
	EraseAll(ctx context.Context, c tenantCollection) (int64, error)
	// CountAll counts the collection's records.
	CountAll(ctx context.Context, c tenantCollection) (int64, error)
	// ExportAll passes every record of the collection to emit, one at a
	// time, holding no more than one record (or one file chunk) in
	// memory, and returns how many records the store held (rows, keys,
	// files and folders).
	ExportAll(ctx context.Context, c tenantCollection, emit func(tenantRecord) error) (int64, error)
}

// target is one step for a set of subject ids.
type target struct {
	step datamap.Step
	// ids are the subject's internal ids to erase (those under a legal
	// hold are left out and counted in held).
	ids []string
	// held is what the step keeps for ids under a legal hold; Erase adds
	// it to the ledger row.
	held tally
	// again runs a done step once more (a repair after verification).
	again bool
	// partial is called in the middle of a step that is not one
	// transaction, at the point where a kill tests its recovery.
	partial func() error
}

// name is "store/collection".
func (t target) name() string { return t.step.Store + "/" + t.step.Collection }

// tally counts a step's records.
type tally struct {
	Erased, Retained, Remaining int64
	// Reasons are why records are retained, without duplicates.
	Reasons []string
}

// add adds o's counts and reasons to t.
func (t *tally) add(o tally) {
	t.Erased += o.Erased
	t.Retained += o.Retained
	t.Remaining += o.Remaining
	t.addReasons(o.Reasons...)
}

// addReasons records reasons, keeping each once, in order.
func (t *tally) addReasons(reasons ...string) {
	for _, r := range reasons {
		if r != "" && !slices.Contains(t.Reasons, r) {
			t.Reasons = append(t.Reasons, r)
		}
	}
}

// reason joins the reasons for a report.
func (t tally) reason() string { return joinReasons(t.Reasons) }

// reasonSeparator joins retained reasons in reports and the ledger.
const reasonSeparator = "; "

// joinReasons joins reasons, each once.
func joinReasons(reasons []string) string {
	var out []string
	for _, r := range reasons {
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return strings.Join(out, reasonSeparator)
}

// splitReasons splits a joined reason.
func splitReasons(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, reasonSeparator)
}
