package unsubscribe

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// recordUnsubscribe sets the lead's unsubscribed_at to at unless it is set
// already, so the first time is kept. An unknown lead is not an error:
// nothing is written.
func recordUnsubscribe(ctx context.Context, db *sql.DB, engine schema.Engine, leadID int64, at time.Time) error {
	q := `UPDATE leads SET unsubscribed_at = ? WHERE id = ? AND unsubscribed_at IS NULL`
	if engine == schema.Postgres {
		q = `UPDATE leads SET unsubscribed_at = $1 WHERE id = $2 AND unsubscribed_at IS NULL`
	}
	if _, err := db.ExecContext(ctx, q, at.UTC(), leadID); err != nil {
		return fmt.Errorf("unsubscribe: recording the unsubscribe: %w", err)
	}
	return nil
}
