package erasure

import (
	"context"
	"fmt"
	"slices"
)

// holdReasonPrefix starts the retained reason of data under a legal hold.
const holdReasonPrefix = "legal hold: "

// holds returns the active legal holds of ids (held_until NULL or after
// the run's now): id to the holds' reasons. Without a legalHolds section in
// the map, nobody is held.
func (r *run) holds(ctx context.Context, ids []string) (map[string][]string, error) {
	lh := r.e.m.LegalHolds
	if lh == nil || len(ids) == 0 {
		return nil, nil
	}
	q := newSQL(r.e.stores.Engine).raw("SELECT ").ident(lh.SubjectIDField).raw(", ").ident(lh.ReasonField).
		raw(" FROM ").ident(lh.Collection).raw(" WHERE ").ident(lh.SubjectKindField).raw(" = ").arg(string(r.req.Subject.Kind)).
		raw(" AND ").ident(lh.SubjectIDField).raw(" IN (").list(idArgs(ids)).raw(") AND (").
		ident(lh.UntilField).raw(" IS NULL OR ").ident(lh.UntilField).raw(" > ").arg(r.now).raw(")")
	fail := func(err error) error { return stepErr(lh.Store, lh.Collection, "reading legal holds", err) }
	stmt, args, err := q.build()
	if err != nil {
		return nil, fail(err)
	}
	rows, err := r.e.stores.DB.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fail(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var (
			id     any
			reason string
		)
		if err := rows.Scan(&id, &reason); err != nil {
			return nil, fail(err)
		}
		key := string(valueBytes(id))
		if !slices.Contains(out[key], reason) {
			out[key] = append(out[key], reason)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	return out, nil
}

// splitHeld splits ids into those free to erase and those under a hold.
func splitHeld(ids []string, holds map[string][]string) (free, held []string) {
	for _, id := range ids {
		if len(holds[id]) > 0 {
			held = append(held, id)
		} else {
			free = append(free, id)
		}
	}
	return free, held
}

// holdReasons returns the reasons of the holds of ids, each once, sorted.
func holdReasons(ids []string, holds map[string][]string) []string {
	var out []string
	for _, id := range ids {
		for _, reason := range holds[id] {
			out = append(out, holdReasonPrefix+reason)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// LegalHoldsError is EraseTenant's refusal: legal holds are in force and no
// export hands the held data back to the tenant first. Nothing was erased.
type LegalHoldsError struct {
	// Active counts the holds in force (rows, over every subject kind).
	Active int64
}

func (e *LegalHoldsError) Error() string {
	return fmt.Sprintf("%d legal hold(s) in force: erasing the tenant would destroy data it must keep, so nothing was erased; "+
		"export the tenant first (the held data goes back to it), or end the holds", e.Active)
}

// ActiveLegalHolds counts the legal holds in force at the engine's now
// (held_until NULL or later), over every subject kind. Without a legalHolds
// section in the map there are none.
func (e *Engine) ActiveLegalHolds(ctx context.Context) (int64, error) {
	lh := e.m.LegalHolds
	if lh == nil {
		return 0, nil
	}
	fail := func(err error) error { return stepErr(lh.Store, lh.Collection, "counting legal holds", err) }
	stmt, args, err := newSQL(e.stores.Engine).raw("SELECT COUNT(*) FROM ").ident(lh.Collection).raw(" WHERE ").
		ident(lh.UntilField).raw(" IS NULL OR ").ident(lh.UntilField).raw(" > ").arg(e.opts.Now().UTC()).build()
	if err != nil {
		return 0, fail(err)
	}
	var n int64
	if err := e.stores.DB.QueryRowContext(ctx, stmt, args...).Scan(&n); err != nil {
		return 0, fail(err)
	}
	return n, nil
}
