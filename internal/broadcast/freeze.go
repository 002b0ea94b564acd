package broadcast

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// audienceFilter is the part of the audience query that comes from the
// Broadcast: the Page and the tags. Tags are bound as parameters, never
// spliced into SQL.
type audienceFilter struct {
	pageID      string
	tags        []string
	excludeTags []string
}

// where returns the conditions a lead (alias l) must meet to join the
// audience, and their arguments.
func (f audienceFilter) where() (string, []any) {
	var b strings.Builder
	args := []any{f.pageID}
	b.WriteString(`l.page_id = ? AND l.opted_in_at IS NOT NULL AND l.unsubscribed_at IS NULL AND l.unreachable_at IS NULL`)
	for _, t := range f.tags {
		b.WriteString(` AND EXISTS (SELECT 1 FROM lead_tags t WHERE t.lead_id = l.id AND t.tag = ?)`)
		args = append(args, t)
	}
	if len(f.excludeTags) > 0 {
		b.WriteString(` AND NOT EXISTS (SELECT 1 FROM lead_tags x WHERE x.lead_id = l.id AND x.tag IN (` + placeholders(len(f.excludeTags)) + `))`)
		for _, t := range f.excludeTags {
			args = append(args, t)
		}
	}
	return b.String(), args
}

// freeze writes the audience into the ledger: one pending delivery per
// eligible lead of the Page whose id is at most the highest lead id when
// the freeze starts, so that leads created later never join. It returns
// the audience size.
//
// The freeze is one transaction made of keyset batches of INSERT ...
// SELECT, so the audience never passes through the worker and a worker
// killed during the freeze leaves no partial audience behind: a later run
// finds either the whole audience or none and freezes again. READ
// COMMITTED keeps InnoDB from locking the gaps of leads while it runs; the
// foreign key still holds a share lock on each frozen lead until commit.
func (l *deliveryLedger) freeze(ctx context.Context, f audienceFilter, batch int, at time.Time) (int64, error) {
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return 0, fmt.Errorf("broadcast: freezing the audience: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	var ceiling int64
	if err := tx.QueryRowContext(ctx, rebind(l.engine, `SELECT COALESCE(MAX(id), 0) FROM leads WHERE page_id = ?`), f.pageID).Scan(&ceiling); err != nil {
		return 0, fmt.Errorf("broadcast: freezing the audience: %w", err)
	}
	where, whereArgs := f.where()
	insert := rebind(l.engine, `INSERT INTO broadcast_deliveries (broadcast, lead_id, state, attempted_at)
SELECT ?, l.id, 'intent', ? FROM leads l
WHERE `+where+` AND l.id > ? AND l.id <= ?
ORDER BY l.id LIMIT ?`)
	last := rebind(l.engine, `SELECT MAX(lead_id) FROM broadcast_deliveries WHERE broadcast = ?`)

	var (
		total int64
		after int64
	)
	for {
		args := append([]any{l.broadcast, at.UTC()}, whereArgs...)
		args = append(args, after, ceiling, batch)
		res, err := tx.ExecContext(ctx, insert, args...)
		if err != nil {
			return 0, fmt.Errorf("broadcast: freezing the audience: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("broadcast: freezing the audience: %w", err)
		}
		total += n
		if n < int64(batch) {
			break
		}
		if err := tx.QueryRowContext(ctx, last, l.broadcast).Scan(&after); err != nil {
			return 0, fmt.Errorf("broadcast: freezing the audience: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("broadcast: freezing the audience: %w", err)
	}
	return total, nil
}
