package erasure

import (
	"context"
	"errors"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// verify queries every step again for the ids erased and records what it
// finds left. A step with records left is erased once more (a repair: data
// written after its step ran, or rows whose retention ended) and queried
// again. It returns the total left.
//
// Each step was also checked when it ran, while the collections its routes
// pass through still existed; this pass catches what came after.
func (r *run) verify(ctx context.Context, ids []string) (int64, error) {
	rows, err := r.ledger.load(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, step := range r.plan.Steps {
		a := r.adapters[step.Store]
		t := target{step: step, ids: ids}
		v, err := a.Verify(ctx, t)
		if err != nil {
			return 0, err
		}
		if v.Remaining > 0 {
			r.log.Warn("verification found records left; erasing the step again", "store", step.Store, "step", step.Collection,
				"remaining", v.Remaining)
			t.again = true
			if _, err := a.Erase(ctx, t); err != nil {
				return 0, err
			}
			if v, err = a.Verify(ctx, target{step: step, ids: ids}); err != nil {
				return 0, err
			}
		}
		if row, ok := rows.get(step.Store, step.Collection); !ok || row.Remaining != v.Remaining {
			if err := r.ledger.setRemaining(ctx, step.Store, step.Collection, v.Remaining); err != nil {
				return 0, err
			}
		}
		total += v.Remaining
	}
	r.log.Info("verified by re-query", "remaining", total)
	return total, nil
}

// repairBefore erases again, for ids, every step of the same store that the
// plan runs before step and in which the verification finds records left.
func (r *run) repairBefore(ctx context.Context, step datamap.Step, ids []string) error {
	for _, prev := range r.plan.Steps {
		if prev.Store == step.Store && prev.Collection == step.Collection {
			return nil
		}
		if prev.Store != step.Store {
			continue
		}
		a := r.adapters[prev.Store]
		v, err := a.Verify(ctx, target{step: prev, ids: ids})
		if err != nil {
			return err
		}
		if v.Remaining > 0 {
			if _, err := a.Erase(ctx, target{step: prev, ids: ids, again: true}); err != nil {
				return err
			}
		}
	}
	return nil
}

// isForeignKeyViolation reports whether err is a database's refusal to
// delete a row that others still reference.
func isForeignKeyViolation(err error) bool {
	var (
		pgErr *pgconn.PgError
		myErr *mysql.MySQLError
	)
	switch {
	case errors.As(err, &pgErr):
		return pgErr.Code == "23503"
	case errors.As(err, &myErr):
		return myErr.Number == 1451
	}
	return false
}
