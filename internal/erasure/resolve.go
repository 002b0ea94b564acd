package erasure

import (
	"context"
	"fmt"
	"slices"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// resolve returns the subject's internal ids: those of the root rows its
// e-mail or PSID (through the blind index) leads to, or its id.
//
// A canonical decimal id is found when the root has its row or, failing
// that, when any step still holds data routed to it, so that a request
// resumed after its root row was erased, or one for data the app left
// behind, still reaches every store. Any other id is used only when the
// root holds a row whose key is exactly that id, so that a loose comparison
// (MySQL compares '42abc' = 42 as true) can never select another subject.
func (r *run) resolve(ctx context.Context) ([]string, error) {
	ident, value, err := r.req.Subject.identifier()
	if err != nil {
		return nil, err
	}
	lookup := r.plan.Lookup
	if ident == datamap.IdentifierID {
		_, canonical := canonicalInt(value)
		if lookup == nil {
			return []string{value}, nil
		}
		if !canonical {
			ids, err := r.lookupText(ctx, lookup, value)
			if err != nil || !slices.Contains(ids, value) {
				return nil, err
			}
			return []string{value}, nil
		}
		q := newSQL(r.e.stores.Engine).raw("SELECT ").ident(lookup.PrimaryKey).raw(" FROM ").ident(lookup.Collection).
			raw(" WHERE ").ident(lookup.PrimaryKey).raw(" = ").arg(value)
		ids, err := r.queryIDs(ctx, lookup, q)
		if err != nil || len(ids) > 0 {
			return ids, err
		}
		return r.leftBehind(ctx, value)
	}
	if lookup == nil {
		return nil, &StepError{Store: "-", Step: StepResolve, Op: "resolving the subject",
			Err: fmt.Errorf("the data map has no root collection for %s: only ids can be erased", r.req.Subject.Kind)}
	}
	i := slices.IndexFunc(lookup.Identities, func(id datamap.Identity) bool { return id.Identifier == ident })
	if i < 0 {
		return nil, &StepError{Store: lookup.Store, Step: StepResolve, Op: "resolving the subject",
			Err: fmt.Errorf("the data map's %s root has no %s identity", r.req.Subject.Kind, ident)}
	}
	id := lookup.Identities[i]
	var arg any = value
	if id.BlindIndex {
		arg = crypto.BlindIndex(r.e.stores.BlindIndexKey, string(ident), value)
	}
	q := newSQL(r.e.stores.Engine).raw("SELECT ").ident(lookup.PrimaryKey).raw(" FROM ").ident(lookup.Collection).
		raw(" WHERE ").ident(id.Field).raw(" = ").arg(arg)
	return r.queryIDs(ctx, lookup, q)
}

// lookupText finds root rows whose key, as text, is value. It compares as
// text on purpose (no index): it serves ids that are not decimal integers.
func (r *run) lookupText(ctx context.Context, lookup *datamap.Lookup, value string) ([]string, error) {
	cast := "CHAR"
	if r.e.stores.Engine == schema.Postgres {
		cast = "TEXT"
	}
	q := newSQL(r.e.stores.Engine).raw("SELECT ").ident(lookup.PrimaryKey).raw(" FROM ").ident(lookup.Collection).
		raw(" WHERE CAST(").ident(lookup.PrimaryKey).raw(" AS " + cast + ") = ").arg(value)
	return r.queryIDs(ctx, lookup, q)
}

// queryIDs runs a lookup and returns the keys as text.
func (r *run) queryIDs(ctx context.Context, lookup *datamap.Lookup, q *sqlBuilder) ([]string, error) {
	fail := func(err error) error {
		return stepErr(lookup.Store, StepResolve, "looking up the subject in "+lookup.Collection, err)
	}
	stmt, args, err := q.build()
	if err != nil {
		return nil, fail(err)
	}
	rows, err := r.e.stores.DB.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fail(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, fail(err)
		}
		ids = append(ids, string(valueBytes(v)))
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// leftBehind returns id when some step of the plan still holds data routed
// to it although the root has no row for it.
func (r *run) leftBehind(ctx context.Context, id string) ([]string, error) {
	for _, step := range r.plan.Steps {
		c, err := r.adapters[step.Store].Count(ctx, target{step: step, ids: []string{id}})
		if err != nil {
			return nil, err
		}
		if c.Erased+c.Retained > 0 {
			return []string{id}, nil
		}
	}
	return nil, nil
}
