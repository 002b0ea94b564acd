package policynotify

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// States of a policy_notifications row.
const (
	stateIntent = "intent"
	stateSent   = "sent"
	stateFailed = "failed"
)

// Error codes the ledger records for failures that are not an SMTP reply.
const (
	// ErrorCodeUnknownOutcome marks a user whose message may or may not have
	// been delivered: the worker was killed between claiming the user and
	// recording the outcome, or the connection broke after the message data
	// was sent. Such users are never mailed again for the version.
	ErrorCodeUnknownOutcome = "unknown_outcome"
	// ErrorCodeUndecryptable marks a user whose e-mail address the keyring
	// could not open.
	ErrorCodeUndecryptable = "undecryptable"
	// ErrorCodeInvalidAddress marks a user whose decrypted e-mail address is
	// not an address.
	ErrorCodeInvalidAddress = "invalid_address"
)

// maxErrorCodeLen is the width of policy_notifications.error_code.
const maxErrorCodeLen = 64

// notificationLedger is the policy_notifications table of one version.
type notificationLedger struct {
	db      *sql.DB
	engine  schema.Engine
	version string

	claimSQL, insertFailedSQL, markSQL, releaseSQL, resolveSQL, countsSQL, unknownSQL string
}

func newNotificationLedger(db *sql.DB, engine schema.Engine, version string) *notificationLedger {
	l := &notificationLedger{db: db, engine: engine, version: version}
	// The claim inserts only for a user who still exists and is not
	// deleted, and does nothing when the (version, user_id) row exists.
	claim := `INSERT INTO policy_notifications (version, user_id, state, attempted_at)
SELECT ?, u.id, 'intent', ? FROM users u WHERE u.id = ? AND u.deleted_at IS NULL`
	insertFailed := `INSERT INTO policy_notifications (version, user_id, state, error_code, attempted_at)
SELECT ?, u.id, 'failed', ?, ? FROM users u WHERE u.id = ? AND u.deleted_at IS NULL`
	switch engine {
	case schema.Postgres:
		claim += ` ON CONFLICT (version, user_id) DO NOTHING`
		insertFailed += ` ON CONFLICT (version, user_id) DO NOTHING`
	case schema.MySQL:
		// A no-op update reports 0 affected rows, like an ignored insert;
		// unlike INSERT IGNORE it does not hide other errors.
		claim += ` ON DUPLICATE KEY UPDATE state = policy_notifications.state`
		insertFailed += ` ON DUPLICATE KEY UPDATE state = policy_notifications.state`
	}
	l.claimSQL = rebind(engine, claim)
	l.insertFailedSQL = rebind(engine, insertFailed)
	// The outcome overwrites whatever state the row has: a concurrent run
	// may have marked this worker's claim as an unknown outcome meanwhile.
	l.markSQL = rebind(engine, `UPDATE policy_notifications SET state = ?, error_code = ?, sent_at = ? WHERE version = ? AND user_id = ?`)
	// Only the worker that holds the claim, or that recorded the failure,
	// releases it; a concurrent run may have marked the claim an unknown
	// outcome, which the holder knows better. A recorded send is never
	// released.
	l.releaseSQL = rebind(engine, `DELETE FROM policy_notifications WHERE version = ? AND user_id = ? AND state <> 'sent'`)
	l.resolveSQL = rebind(engine, `UPDATE policy_notifications SET state = 'failed', error_code = ? WHERE version = ? AND state = 'intent' AND attempted_at < ?`)
	// Index-only on (version, state); the unknown outcomes are read among
	// the failed rows only.
	l.countsSQL = rebind(engine, `SELECT state, COUNT(*) FROM policy_notifications WHERE version = ? GROUP BY state`)
	l.unknownSQL = rebind(engine, `SELECT COUNT(*) FROM policy_notifications WHERE version = ? AND state = 'failed' AND error_code = ?`)
	return l
}

// claim records the intent to mail user. It reports false when the user
// already has a row for the version (mailed, failed or claimed by another
// worker) or no longer exists or is deleted: then nobody may mail them now.
func (l *notificationLedger) claim(ctx context.Context, user int64, at time.Time) (bool, error) {
	res, err := l.db.ExecContext(ctx, l.claimSQL, l.version, at.UTC(), user)
	if err != nil {
		return false, fmt.Errorf("claiming user %d in the ledger: %w", user, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claiming user %d in the ledger: %w", user, err)
	}
	return n == 1, nil
}

// insertFailed records user as failed without a send (the address could not
// be read). It reports false when the user already has a row.
func (l *notificationLedger) insertFailed(ctx context.Context, user int64, code string, at time.Time) (bool, error) {
	res, err := l.db.ExecContext(ctx, l.insertFailedSQL, l.version, truncateCode(code), at.UTC(), user)
	if err != nil {
		return false, fmt.Errorf("recording user %d as failed: %w", user, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("recording user %d as failed: %w", user, err)
	}
	return n == 1, nil
}

// markSent records that the server accepted user's message.
func (l *notificationLedger) markSent(ctx context.Context, user int64, at time.Time) error {
	if _, err := l.db.ExecContext(ctx, l.markSQL, stateSent, nil, at.UTC(), l.version, user); err != nil {
		return fmt.Errorf("recording user %d as sent: %w", user, err)
	}
	return nil
}

// markFailed records that user's message was not delivered, or may not
// have been (ErrorCodeUnknownOutcome).
func (l *notificationLedger) markFailed(ctx context.Context, user int64, code string) error {
	if _, err := l.db.ExecContext(ctx, l.markSQL, stateFailed, truncateCode(code), nil, l.version, user); err != nil {
		return fmt.Errorf("recording user %d as failed: %w", user, err)
	}
	return nil
}

// release withdraws a claim, or a failure, whose message was certainly not
// delivered, so that a later run mails the user.
func (l *notificationLedger) release(ctx context.Context, user int64) error {
	if _, err := l.db.ExecContext(ctx, l.releaseSQL, l.version, user); err != nil {
		return fmt.Errorf("withdrawing the claim on user %d: %w", user, err)
	}
	return nil
}

// resolveAbandoned marks claims made before the given time, left by a
// worker that died between claiming and recording, as failed with
// ErrorCodeUnknownOutcome. It returns how many it marked.
func (l *notificationLedger) resolveAbandoned(ctx context.Context, before time.Time) (int64, error) {
	res, err := l.db.ExecContext(ctx, l.resolveSQL, ErrorCodeUnknownOutcome, l.version, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("resolving abandoned claims: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("resolving abandoned claims: %w", err)
	}
	return n, nil
}

// ledgerCounts are the ledger's rows of one version by state; unknown
// counts the failed rows with ErrorCodeUnknownOutcome.
type ledgerCounts struct {
	sent, failed, unknown, intent int64
}

// counts reads the ledger's counters (index policy_notifications_version_state_idx).
func (l *notificationLedger) counts(ctx context.Context) (ledgerCounts, error) {
	rows, err := l.db.QueryContext(ctx, l.countsSQL, l.version)
	if err != nil {
		return ledgerCounts{}, fmt.Errorf("counting the ledger: %w", err)
	}
	defer rows.Close()
	var c ledgerCounts
	for rows.Next() {
		var (
			state string
			n     int64
		)
		if err := rows.Scan(&state, &n); err != nil {
			return ledgerCounts{}, fmt.Errorf("counting the ledger: %w", err)
		}
		switch state {
		case stateSent:
			c.sent = n
		case stateFailed:
			c.failed = n
		case stateIntent:
			c.intent = n
		}
	}
	if err := rows.Err(); err != nil {
		return ledgerCounts{}, fmt.Errorf("counting the ledger: %w", err)
	}
	if c.failed > 0 {
		if err := l.db.QueryRowContext(ctx, l.unknownSQL, l.version, ErrorCodeUnknownOutcome).Scan(&c.unknown); err != nil {
			return ledgerCounts{}, fmt.Errorf("counting the ledger: %w", err)
		}
	}
	return c, nil
}

func truncateCode(code string) string {
	if len(code) > maxErrorCodeLen {
		return code[:maxErrorCodeLen]
	}
	return code
}
