package retention

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// securityLogBatchSQL deletes up to one batch (%d) of the oldest rows before
// the cutoff. Both forms walk security_log_created_at_idx from its start and
// stop after the batch, so neither scans the table nor locks more than the
// batch; each statement commits on its own. On PostgreSQL the ids are
// collected into an array first, so that the rows are then found through the
// primary key rather than by a join the planner might answer with a scan.
var securityLogBatchSQL = map[schema.Engine]string{
	schema.Postgres: `DELETE FROM security_log WHERE id = ANY(ARRAY(
  SELECT id FROM security_log WHERE created_at < $1 ORDER BY created_at LIMIT %d))`,
	// id makes the order total, so the statement is safe for statement-based
	// replication; InnoDB secondary indexes end with the primary key.
	schema.MySQL: `DELETE FROM security_log WHERE created_at < ? ORDER BY created_at, id LIMIT %d`,
}

// pruneSecurityLog deletes the security_log rows created before cutoff, a
// batch at a time, and returns how many it deleted.
func pruneSecurityLog(ctx context.Context, db *sql.DB, engine schema.Engine, cutoff time.Time, batch int) (int64, error) {
	// The batch size is an int from the config, formatted into the
	// statement because LIMIT takes no placeholder in every engine.
	q := fmt.Sprintf(securityLogBatchSQL[engine], batch)
	// Microseconds: what both engines store, so that the cutoff compares
	// the same way whatever the driver does with nanoseconds.
	cutoff = cutoff.UTC().Truncate(time.Microsecond)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res, err := db.ExecContext(ctx, q, cutoff)
		if err != nil {
			return total, fmt.Errorf("deleting rows created before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
