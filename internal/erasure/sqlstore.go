package erasure

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// maxAttempts bounds how often a step erases again when its own check still
// finds records (rows or files written while it ran).
const maxAttempts = 3

// sqlStore is the adapter of the sql store: PostgreSQL or MySQL/MariaDB.
// Every identifier reaches SQL through datamap.QuoteIdent and every value
// as a bind parameter. Each step runs in one transaction that also writes
// its ledger row.
type sqlStore struct {
	db     *sql.DB
	engine schema.Engine
	ledger *ledger
	// colls are the store's collections by name.
	colls map[string]*datamap.Collection
	// now is the run's clock reading; retention cutoffs count from it.
	now time.Time
	// settings are the tenant's retention periods.
	settings map[string]time.Duration
	hashKey  []byte
	keyring  Keyring
	// batch is how many rows one offboarding DELETE removes.
	batch int
}

// retention is the retained fields of a step, grouped by the column their
// period counts from: a row is retained while any of them is inside its
// period.
type retention struct {
	// cutoffs maps each since column to the earliest retained time.
	cutoffs []cutoff
	// reasons say why, for the report.
	reasons []string
}

// cutoff is one since column and its earliest retained time.
type cutoff struct {
	column string
	at     time.Time
}

// retentionOf resolves the step's retained fields.
func (s *sqlStore) retentionOf(step datamap.Step) (retention, error) {
	var r retention
	for _, f := range step.Retained {
		d, err := f.Period.Resolve(s.settings)
		if err != nil {
			return r, fmt.Errorf("field %s: %w", f.Field, err)
		}
		at := s.now.Add(-d)
		merged := false
		for i, c := range r.cutoffs {
			if c.column == f.Since {
				if at.Before(c.at) {
					r.cutoffs[i].at = at
				}
				merged = true
			}
		}
		if !merged {
			r.cutoffs = append(r.cutoffs, cutoff{column: f.Since, at: at})
		}
		r.reasons = append(r.reasons, retainedReason(f.Reason, step.Collection, d))
	}
	return r, nil
}

// retainedReason formats why a collection is kept and for how long.
func retainedReason(reason, collection string, d time.Duration) string {
	return fmt.Sprintf("%s: %s kept for %s", reason, collection, formatPeriod(d))
}

// formatPeriod prints a period without trailing zero units: 720h, 90m, 36h30m.
func formatPeriod(d time.Duration) string {
	s := d.String()
	for _, zero := range []string{"0s", "0m"} {
		if len(s) > len(zero)+1 && s[len(s)-len(zero):] == zero {
			s = s[:len(s)-len(zero)]
		}
	}
	return s
}

// where appends the condition that selects the subject's rows: any route
// leads to one of ids. ids must not be empty.
func (s *sqlStore) where(q *sqlBuilder, step datamap.Step, ids []any) {
	q.raw("(")
	for i, r := range step.Routes {
		if i > 0 {
			q.raw(" OR ")
		}
		q.raw("(")
		s.route(q, r, ids)
		q.raw(")")
	}
	q.raw(")")
}

// route appends one route: the field holds an id, or, through each hop,
// matches a column of rows that the rest of the route selects.
func (s *sqlStore) route(q *sqlBuilder, r datamap.Route, ids []any) {
	if len(r.Hops) == 0 {
		q.ident(r.Field).raw(" IN (").list(ids).raw(")")
		return
	}
	h := r.Hops[0]
	q.ident(h.Field).raw(" IN (SELECT ").ident(h.To).raw(" FROM ").ident(h.Collection).raw(" WHERE ")
	s.route(q, datamap.Route{Hops: r.Hops[1:], Field: r.Field}, ids)
	q.raw(")")
}

// retained appends the condition that a row is inside a retention period
// (a NULL since column retains nothing).
func (s *sqlStore) retained(q *sqlBuilder, r retention) {
	q.raw("(")
	for i, c := range r.cutoffs {
		if i > 0 {
			q.raw(" OR ")
		}
		q.raw("COALESCE(").ident(c.column).raw(" >= ").arg(c.at.UTC()).raw(", FALSE)")
	}
	q.raw(")")
}

// dirty appends the condition that a row still has a value the update step
// sets to NULL.
func (s *sqlStore) dirty(q *sqlBuilder, step datamap.Step) {
	q.raw("(")
	for i, c := range step.Null {
		if i > 0 {
			q.raw(" OR ")
		}
		q.ident(c).raw(" IS NOT NULL")
	}
	q.raw(")")
}

// selection is what a count or statement applies to.
type selection int

const (
	// allRows are the subject's rows.
	allRows selection = iota
	// retainedRows are the subject's rows inside a retention period.
	retainedRows
	// erasableRows are the subject's rows that erasure removes or
	// rewrites: all of them (delete), those outside every retention
	// period (retain), those with a value to set to NULL or hash (update).
	erasableRows
	// leftRows are the erasable rows the verification counts: for updates
	// only the NULL columns can be checked (a hashed value looks like any
	// other).
	leftRows
)

// filter appends the WHERE clause of a selection.
func (s *sqlStore) filter(q *sqlBuilder, step datamap.Step, r retention, ids []any, sel selection) {
	q.raw(" WHERE ")
	s.where(q, step, ids)
	switch {
	case sel == retainedRows:
		q.raw(" AND ")
		s.retained(q, r)
	case (sel == erasableRows || sel == leftRows) && step.Action == datamap.ActionRetain:
		q.raw(" AND NOT ")
		s.retained(q, r)
	case sel == erasableRows && step.Action == datamap.ActionUpdate && len(step.Hash) == 0,
		sel == leftRows && step.Action == datamap.ActionUpdate && len(step.Null) > 0:
		q.raw(" AND ")
		s.dirty(q, step)
	case sel == leftRows && step.Action == datamap.ActionUpdate:
		q.raw(" AND 1 = 0")
	}
}

// count counts a selection of the subject's rows.
func (s *sqlStore) count(ctx context.Context, qr querier, step datamap.Step, r retention, ids []any, sel selection) (int64, error) {
	if len(ids) == 0 || (sel == retainedRows && len(r.cutoffs) == 0) {
		return 0, nil
	}
	q := newSQL(s.engine).raw("SELECT COUNT(*) FROM ").ident(step.Collection)
	s.filter(q, step, r, ids, sel)
	stmt, args, err := q.build()
	if err != nil {
		return 0, err
	}
	var n int64
	err = qr.QueryRowContext(ctx, stmt, args...).Scan(&n)
	return n, err
}

// Count implements storeAdapter.
func (s *sqlStore) Count(ctx context.Context, t target) (tally, error) {
	var res tally
	r, err := s.retentionOf(t.step)
	if err != nil {
		return res, stepErr(t.step.Store, t.step.Collection, "resolving the retention period", err)
	}
	ids := idArgs(t.ids)
	if res.Erased, err = s.count(ctx, s.db, t.step, r, ids, erasableRows); err != nil {
		return res, stepErr(t.step.Store, t.step.Collection, "counting rows", err)
	}
	if res.Retained, err = s.count(ctx, s.db, t.step, r, ids, retainedRows); err != nil {
		return res, stepErr(t.step.Store, t.step.Collection, "counting retained rows", err)
	}
	if res.Retained > 0 {
		res.addReasons(r.reasons...)
	}
	return res, nil
}

// Verify implements storeAdapter.
func (s *sqlStore) Verify(ctx context.Context, t target) (tally, error) {
	var res tally
	r, err := s.retentionOf(t.step)
	if err != nil {
		return res, stepErr(t.step.Store, t.step.Collection, "resolving the retention period", err)
	}
	ids := idArgs(t.ids)
	if res.Remaining, err = s.count(ctx, s.db, t.step, r, ids, leftRows); err != nil {
		return res, stepErr(t.step.Store, t.step.Collection, "verifying", err)
	}
	if res.Retained, err = s.count(ctx, s.db, t.step, r, ids, retainedRows); err != nil {
		return res, stepErr(t.step.Store, t.step.Collection, "verifying", err)
	}
	if res.Retained > 0 {
		res.addReasons(r.reasons...)
	}
	return res, nil
}

// Erase implements storeAdapter: one transaction claims the step's ledger
// row, erases, checks that nothing erasable is left, and records the counts.
func (s *sqlStore) Erase(ctx context.Context, t target) (tally, error) {
	store, step := t.step.Store, t.step.Collection
	r, err := s.retentionOf(t.step)
	if err != nil {
		return tally{}, stepErr(store, step, "resolving the retention period", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return tally{}, stepErr(store, step, "starting a transaction", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	row, err := s.ledger.claim(ctx, tx, store, step)
	if err != nil {
		return tally{}, err
	}
	if row.done() && !t.again {
		return row.tally(), stepErr(store, step, "committing", tx.Commit())
	}

	var res tally
	ids := idArgs(t.ids)
	if len(ids) > 0 {
		for attempt := 1; ; attempt++ {
			n, err := s.eraseOnce(ctx, tx, t, r, ids)
			if err != nil {
				return tally{}, stepErr(store, step, "erasing rows", err)
			}
			res.Erased += n
			left, err := s.count(ctx, tx, t.step, r, ids, leftRows)
			if err != nil {
				return tally{}, stepErr(store, step, "checking the erasure", err)
			}
			if left == 0 {
				break
			}
			if attempt == maxAttempts {
				return tally{}, &StepError{Store: store, Step: step, Op: "erasing rows",
					Err: fmt.Errorf("%d rows still found after %d attempts", left, maxAttempts)}
			}
		}
		if res.Retained, err = s.count(ctx, tx, t.step, r, ids, retainedRows); err != nil {
			return tally{}, stepErr(store, step, "counting retained rows", err)
		}
		if res.Retained > 0 {
			res.addReasons(r.reasons...)
		}
	}
	if t.again {
		prev := row.tally()
		prev.Erased += res.Erased
		prev.Remaining = 0
		res = prev
	} else {
		res.add(t.held)
	}
	if err := s.ledger.set(ctx, tx, store, step, stateDone, res); err != nil {
		return tally{}, err
	}
	return res, stepErr(store, step, "committing", tx.Commit())
}

// eraseOnce runs the step's statements once and returns how many rows they
// removed or rewrote.
func (s *sqlStore) eraseOnce(ctx context.Context, tx *sql.Tx, t target, r retention, ids []any) (int64, error) {
	step := t.step
	if step.Action == datamap.ActionUpdate {
		if len(step.Hash) > 0 && !t.again {
			return s.hashRows(ctx, tx, step, r, ids)
		}
		if len(step.Null) == 0 {
			return 0, nil
		}
		q := newSQL(s.engine).raw("UPDATE ").ident(step.Collection).raw(" SET ")
		for i, c := range step.Null {
			if i > 0 {
				q.raw(", ")
			}
			q.ident(c).raw(" = NULL")
		}
		s.filter(q, step, r, ids, leftRows)
		return s.exec(ctx, tx, q)
	}
	if step.Action == datamap.ActionRetain && len(r.cutoffs) == 0 {
		return 0, nil
	}
	q := newSQL(s.engine).raw("DELETE FROM ").ident(step.Collection)
	s.filter(q, step, r, ids, erasableRows)
	return s.exec(ctx, tx, q)
}

// exec runs a built statement and returns the rows it affected.
func (s *sqlStore) exec(ctx context.Context, qr querier, q *sqlBuilder) (int64, error) {
	stmt, args, err := q.build()
	if err != nil {
		return 0, err
	}
	res, err := qr.ExecContext(ctx, stmt, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// EraseAll implements tenantAdapter: the whole table, in batches, each its
// own statement.
func (s *sqlStore) EraseAll(ctx context.Context, c tenantCollection) (int64, error) {
	var n int64
	for {
		q := newSQL(s.engine)
		if s.engine == schema.Postgres {
			q.raw("DELETE FROM ").ident(c.name).raw(" WHERE ctid = ANY(ARRAY(SELECT ctid FROM ").ident(c.name).
				raw(" LIMIT ").arg(s.batch).raw("))")
		} else {
			q.raw("DELETE FROM ").ident(c.name).raw(" LIMIT ").arg(s.batch)
		}
		k, err := s.exec(ctx, s.db, q)
		if err != nil {
			return n, stepErr(c.store, c.name, "deleting rows", err)
		}
		n += k
		if k == 0 {
			return n, nil
		}
	}
}

// CountAll implements tenantAdapter.
func (s *sqlStore) CountAll(ctx context.Context, c tenantCollection) (int64, error) {
	stmt, args, err := newSQL(s.engine).raw("SELECT COUNT(*) FROM ").ident(c.name).build()
	if err != nil {
		return 0, stepErr(c.store, c.name, "counting rows", err)
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, stmt, args...).Scan(&n); err != nil {
		return 0, stepErr(c.store, c.name, "counting rows", err)
	}
	return n, nil
}
