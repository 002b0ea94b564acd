package broadcast

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// ledgerTable is the ledger with the alias that wherePending and
// whereClaimed use.
const ledgerTable = "broadcast_deliveries d"

// delivery names one ledger row: its primary key and its lead.
type delivery struct {
	id, leadID int64
}

// deliveryLedger is the broadcast_deliveries rows of one broadcast. See
// states.go for how the schema's four states carry pending and claimed
// deliveries.
type deliveryLedger struct {
	db        *sql.DB
	engine    schema.Engine
	broadcast string
	timeout   time.Duration

	frozenSQL, recoverSQL, sentSQL, failedSQL, skippedSQL, unreachableSQL, countsSQL, retrySQL string
}

func newDeliveryLedger(db *sql.DB, engine schema.Engine, broadcast string, timeout time.Duration) *deliveryLedger {
	l := &deliveryLedger{db: db, engine: engine, broadcast: broadcast, timeout: timeout}
	q := func(s string) string { return rebind(engine, s) }
	l.frozenSQL = q(`SELECT COUNT(*) FROM (SELECT 1 FROM broadcast_deliveries WHERE broadcast = ? LIMIT 1) f`)
	// Claims left behind by a worker that died: their outcome is unknown.
	l.recoverSQL = q(`UPDATE broadcast_deliveries SET state = 'failed', completed_at = ?
WHERE broadcast = ? AND state = 'intent' AND error_code = 'unknown_outcome'`)
	// SET names bare columns: PostgreSQL refuses the alias there. Rows
	// are addressed by primary key, which every planner uses whatever its
	// statistics say just after the freeze.
	outcome := func(set string) string {
		return q(`UPDATE ` + ledgerTable + ` SET ` + set + `
WHERE d.id = ? AND ` + whereClaimed)
	}
	l.sentSQL = outcome(`state = 'sent', message_id = ?, error_code = NULL, completed_at = ?`)
	l.failedSQL = outcome(`state = 'failed', error_code = ?, completed_at = ?`)
	l.skippedSQL = outcome(`state = 'skipped', skip_reason = ?, error_code = ?, completed_at = ?`)
	l.unreachableSQL = q(`UPDATE leads SET unreachable_at = ? WHERE id = ? AND unreachable_at IS NULL`)
	l.countsSQL = q(`SELECT state, COALESCE(skip_reason, ''), CASE WHEN error_code = 'unknown_outcome' THEN 1 ELSE 0 END, COUNT(*)
FROM broadcast_deliveries WHERE broadcast = ? GROUP BY 1, 2, 3`)
	l.retrySQL = q(`UPDATE broadcast_deliveries SET state = 'intent', error_code = NULL, message_id = NULL, completed_at = NULL, attempted_at = ?
WHERE broadcast = ? AND state = 'failed' AND error_code <> 'unknown_outcome'`)
	return l
}

// bounded returns a context for one ledger statement: it outlives the
// cancellation of ctx (a paused run still records what it sent) but not
// the ledger timeout.
func (l *deliveryLedger) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
}

// frozen reports whether the broadcast's audience is in the ledger. The
// freeze is one transaction, so any row means all of them.
func (l *deliveryLedger) frozen(ctx context.Context) (bool, error) {
	var n int
	if err := l.db.QueryRowContext(ctx, l.frozenSQL, l.broadcast).Scan(&n); err != nil {
		return false, fmt.Errorf("broadcast: reading the delivery ledger: %w", err)
	}
	return n > 0, nil
}

// analyze refreshes the planner's statistics of the ledger after the
// freeze added many rows, so that the audience reads use the (broadcast,
// lead_id) index at once instead of after the next automatic analyze. It
// needs ownership of the table on PostgreSQL; failing is not an error.
func (l *deliveryLedger) analyze(ctx context.Context) error {
	q := `ANALYZE broadcast_deliveries`
	if l.engine == schema.MySQL {
		q = `ANALYZE TABLE broadcast_deliveries`
	}
	rows, err := l.db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	return rows.Close()
}

// recoverAbandoned marks claims that no running worker holds as failed
// with ErrorCodeUnknownOutcome, and returns how many. Call it only while
// holding the run lock.
func (l *deliveryLedger) recoverAbandoned(ctx context.Context, at time.Time) (int64, error) {
	res, err := l.db.ExecContext(ctx, l.recoverSQL, at.UTC(), l.broadcast)
	if err != nil {
		return 0, fmt.Errorf("broadcast: recovering abandoned deliveries: %w", err)
	}
	return res.RowsAffected()
}

// finishPending completes pending deliveries (by delivery id) without a
// send: skips found before the send, leads whose message cannot be built.
// It returns how many it completed.
func (l *deliveryLedger) finishPending(ctx context.Context, ids []int64, state, errorCode, skipReason string, at time.Time) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ctx, cancel := l.bounded(ctx)
	defer cancel()
	q := rebind(l.engine, `UPDATE `+ledgerTable+` SET state = ?, error_code = ?, skip_reason = ?, completed_at = ?
WHERE d.id IN (`+placeholders(len(ids))+`) AND `+wherePending)
	args := append([]any{state, nullString(errorCode), nullString(skipReason), at.UTC()}, int64Args(ids)...)
	res, err := l.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("broadcast: recording %d deliveries as %s: %w", len(ids), state, err)
	}
	return res.RowsAffected()
}

// claim marks pending deliveries (by delivery id) as claimed, so that no
// other run sends them, and returns the ids it claimed: all of ids unless
// another worker got some first or they left the ledger (an erased lead).
func (l *deliveryLedger) claim(ctx context.Context, ids []int64, at time.Time) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := l.bounded(ctx)
	defer cancel()
	claimSQL := func(n int) string {
		return rebind(l.engine, `UPDATE `+ledgerTable+` SET error_code = 'unknown_outcome', attempted_at = ?
WHERE d.id IN (`+placeholders(n)+`) AND `+wherePending)
	}
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("broadcast: claiming deliveries: %w", err)
	}
	res, err := tx.ExecContext(ctx, claimSQL(len(ids)), append([]any{at.UTC()}, int64Args(ids)...)...)
	if err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("broadcast: claiming deliveries: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == int64(len(ids)) {
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("broadcast: claiming deliveries: %w", err)
		}
		return ids, nil
	}
	// Some rows were not pending: claim one by one to learn which.
	_ = tx.Rollback()
	one := claimSQL(1)
	claimed := make([]int64, 0, len(ids))
	for _, id := range ids {
		res, err := l.db.ExecContext(ctx, one, at.UTC(), id)
		if err != nil {
			return claimed, fmt.Errorf("broadcast: claiming a delivery: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			claimed = append(claimed, id)
		}
	}
	return claimed, nil
}

// unsubscribedAmong returns the leads of ids that have unsubscribed by now.
func (l *deliveryLedger) unsubscribedAmong(ctx context.Context, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := l.bounded(ctx)
	defer cancel()
	q := rebind(l.engine, `SELECT id FROM leads WHERE id IN (`+placeholders(len(ids))+`) AND unsubscribed_at IS NOT NULL`)
	rows, err := l.db.QueryContext(ctx, q, int64Args(ids)...)
	if err != nil {
		return nil, fmt.Errorf("broadcast: re-checking unsubscribes: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("broadcast: re-checking unsubscribes: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("broadcast: re-checking unsubscribes: %w", err)
	}
	return out, nil
}

// release returns claims (by delivery id) to pending: their messages were
// not sent.
func (l *deliveryLedger) release(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := l.bounded(ctx)
	defer cancel()
	q := rebind(l.engine, `UPDATE `+ledgerTable+` SET state = 'intent', error_code = NULL, completed_at = NULL
WHERE d.id IN (`+placeholders(len(ids))+`) AND `+whereClaimed)
	if _, err := l.db.ExecContext(ctx, q, int64Args(ids)...); err != nil {
		return fmt.Errorf("broadcast: returning %d unsent deliveries to pending: %w", len(ids), err)
	}
	return nil
}

// recordSent records a delivered message. It reports false when the row is
// no longer a claim (the lead was erased meanwhile).
func (l *deliveryLedger) recordSent(ctx context.Context, d delivery, messageID string, at time.Time) (bool, error) {
	return l.exec(ctx, "sent", l.sentSQL, truncate(messageID, 255), at.UTC(), d.id)
}

// recordFailed records a failed send.
func (l *deliveryLedger) recordFailed(ctx context.Context, d delivery, code string, at time.Time) (bool, error) {
	return l.exec(ctx, "failed", l.failedSQL, truncate(code, maxErrorCodeLen), at.UTC(), d.id)
}

// recordSkipped records a send Graph refused for a reason that makes the
// lead skipped (outside the window, unreachable). With markUnreachable the
// lead's unreachable_at is set too, in the same transaction.
func (l *deliveryLedger) recordSkipped(ctx context.Context, d delivery, reason, code string, at time.Time, markUnreachable bool) (bool, error) {
	args := []any{reason, nullString(truncate(code, maxErrorCodeLen)), at.UTC(), d.id}
	if !markUnreachable {
		return l.exec(ctx, "skipped", l.skippedSQL, args...)
	}
	ctx, cancel := l.bounded(ctx)
	defer cancel()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("broadcast: recording an unreachable lead: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, l.skippedSQL, args...)
	if err != nil {
		return false, fmt.Errorf("broadcast: recording an unreachable lead: %w", err)
	}
	if _, err := tx.ExecContext(ctx, l.unreachableSQL, at.UTC(), d.leadID); err != nil {
		return false, fmt.Errorf("broadcast: marking a lead unreachable: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("broadcast: recording an unreachable lead: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (l *deliveryLedger) exec(ctx context.Context, what, q string, args ...any) (bool, error) {
	ctx, cancel := l.bounded(ctx)
	defer cancel()
	res, err := l.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("broadcast: recording a delivery as %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// retryFailed returns failed deliveries to pending, except unknown
// outcomes, and returns how many.
func (l *deliveryLedger) retryFailed(ctx context.Context, at time.Time) (int64, error) {
	res, err := l.db.ExecContext(ctx, l.retrySQL, at.UTC(), l.broadcast)
	if err != nil {
		return 0, fmt.Errorf("broadcast: returning failed deliveries to pending: %w", err)
	}
	return res.RowsAffected()
}

// counts reads the ledger's totals.
func (l *deliveryLedger) counts(ctx context.Context) (Progress, error) {
	rows, err := l.db.QueryContext(ctx, l.countsSQL, l.broadcast)
	if err != nil {
		return Progress{}, fmt.Errorf("broadcast: counting deliveries: %w", err)
	}
	defer rows.Close()
	var p Progress
	for rows.Next() {
		var (
			state, reason string
			unknown       int
			n             int64
		)
		if err := rows.Scan(&state, &reason, &unknown, &n); err != nil {
			return Progress{}, fmt.Errorf("broadcast: counting deliveries: %w", err)
		}
		p.Audience += n
		switch state {
		case stateIntent:
			p.Pending += n
		case stateSent:
			p.Sent += n
		case stateFailed:
			p.Failed += n
			if unknown == 1 {
				p.UnknownOutcome += n
			}
		case stateSkipped:
			switch reason {
			case SkipUnsubscribed:
				p.SkippedUnsubscribed += n
			case SkipOutsideWindow:
				p.SkippedOutsideWindow += n
			case SkipUnreachable:
				p.SkippedUnreachable += n
			default:
				p.SkippedOther += n
			}
		}
	}
	if err := rows.Err(); err != nil {
		return Progress{}, fmt.Errorf("broadcast: counting deliveries: %w", err)
	}
	return p, nil
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
