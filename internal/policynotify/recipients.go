package policynotify

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// recipient is one user to mail, the address still encrypted.
type recipient struct {
	id       int64
	emailEnc []byte
}

// emailAssociatedData is the associated data users.email_enc is sealed with
// (the convention of internal/crypto: "users.email:<id>").
func emailAssociatedData(id int64) []byte {
	return []byte("users.email:" + strconv.FormatInt(id, 10))
}

// userDirectory reads the users table for one version.
type userDirectory struct {
	db      *sql.DB
	version string

	pageSQL, pendingSQL, acceptedSQL string
}

func newUserDirectory(db *sql.DB, engine schema.Engine, version string) *userDirectory {
	return &userDirectory{
		db:      db,
		version: version,
		// A keyset page over the primary key of users who are not deleted
		// and not yet in the ledger; the anti-join probes the unique
		// (version, user_id) index.
		pageSQL: rebind(engine, `SELECT u.id, u.email_enc FROM users u
WHERE u.id > ? AND u.deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM policy_notifications pn WHERE pn.version = ? AND pn.user_id = u.id)
ORDER BY u.id LIMIT ?`),
		pendingSQL: rebind(engine, `SELECT COUNT(*) FROM users u
WHERE u.deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM policy_notifications pn WHERE pn.version = ? AND pn.user_id = u.id)`),
		acceptedSQL: rebind(engine, `SELECT COUNT(*) FROM users WHERE deleted_at IS NULL AND policy_version_accepted = ?`),
	}
}

// page returns up to limit users with ids above after who still need the
// notice, in id order. A page shorter than limit is the last.
func (d *userDirectory) page(ctx context.Context, after int64, limit int) ([]recipient, error) {
	rows, err := d.db.QueryContext(ctx, d.pageSQL, after, d.version, limit)
	if err != nil {
		return nil, fmt.Errorf("reading users after id %d: %w", after, err)
	}
	defer rows.Close()
	out := make([]recipient, 0, limit)
	for rows.Next() {
		var r recipient
		if err := rows.Scan(&r.id, &r.emailEnc); err != nil {
			return nil, fmt.Errorf("reading users after id %d: %w", after, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading users after id %d: %w", after, err)
	}
	return out, nil
}

// pending counts users who still need the notice.
func (d *userDirectory) pending(ctx context.Context) (int64, error) {
	var n int64
	if err := d.db.QueryRowContext(ctx, d.pendingSQL, d.version).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting users still to notify: %w", err)
	}
	return n, nil
}

// accepted counts users, not deleted, who accepted the version.
func (d *userDirectory) accepted(ctx context.Context) (int64, error) {
	var n int64
	if err := d.db.QueryRowContext(ctx, d.acceptedSQL, d.version).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting users who accepted the version: %w", err)
	}
	return n, nil
}
