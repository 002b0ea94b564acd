package erasure

import (
	"context"
	"strings"
	"time"
)

// fromLedger builds the request's result from its ledger rows: per store of
// the map, the sums of its steps' rows; the export from the export's row.
// A completed request therefore reports the same result on every run.
func (r *run) fromLedger(rows ledgerRows) Result {
	res := r.emptyResult()
	for i := range res.Stores {
		s := &res.Stores[i]
		var t tally
		for _, step := range r.plan.Steps {
			if step.Store != s.Name {
				continue
			}
			if row, ok := rows.get(step.Store, step.Collection); ok {
				t.add(row.tally())
			}
		}
		s.Erased, s.Retained, s.Remaining, s.RetainedReason = t.Erased, t.Retained, t.Remaining, t.reason()
		if row, ok := rows.get(s.Name, stepExported); ok {
			s.Exported = row.Erased
		}
	}
	if row, ok := rows.export(); ok {
		res.Export = &ExportInfo{
			Location:  ExportLocation(r.req.UID),
			SHA256:    strings.TrimPrefix(row.Step, stepExportPrefix),
			ExpiresAt: row.UpdatedAt.Truncate(time.Second).Add(r.e.stores.Retention.Exports),
		}
	}
	return res
}

// emptyResult is the result with every store of the map and no counts.
func (r *run) emptyResult() Result {
	res := Result{Request: r.req.UID, Kind: r.req.Subject.Kind, Mode: r.req.Mode, DryRun: r.req.DryRun, Fingerprint: r.fingerprint}
	for _, st := range r.e.m.Stores {
		res.Stores = append(res.Stores, StoreResult{Name: st.Name})
	}
	return res
}

// dryRun counts what the request would export and erase; it writes nothing,
// the ledger included.
func (r *run) dryRun(ctx context.Context, ids []string, holds map[string][]string) (Result, error) {
	res := r.emptyResult()
	free, held := splitHeld(ids, holds)
	for i := range res.Stores {
		s := &res.Stores[i]
		var t tally
		for _, step := range r.plan.Steps {
			if step.Store != s.Name || len(ids) == 0 {
				continue
			}
			a := r.adapters[step.Store]
			c, err := a.Count(ctx, target{step: step, ids: free})
			if err != nil {
				return Result{}, err
			}
			h, err := a.Count(ctx, target{step: step, ids: held})
			if err != nil {
				return Result{}, err
			}
			if n := h.Erased + h.Retained; n > 0 {
				c.Retained += n
				c.addReasons(holdReasons(held, holds)...)
			}
			t.add(c)
		}
		if r.req.Mode.exports() {
			s.Exported = t.Erased + t.Retained
		}
		if r.req.Mode.erases() {
			s.Erased, s.Retained, s.RetainedReason = t.Erased, t.Retained, t.reason()
		}
	}
	tot := res.Totals()
	r.log.Info("dry run: counted what the request would do", "erase", tot.Erased, "retain", tot.Retained, "export", tot.Exported)
	return res, nil
}
