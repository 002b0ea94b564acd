package schema

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"time"
)

// postgresLockKey is the pg_advisory_lock key that serialises Apply within
// one PostgreSQL database (advisory locks are scoped to the database). It is
// the first 8 bytes of SHA-256("inboxchat-operator/schema"), big-endian.
const postgresLockKey int64 = 0x2759e689258fb473

// mysqlLockPoll is how long one GET_LOCK call waits before Apply checks its
// context again.
const mysqlLockPoll = 1

// lockTimeout bounds releasing a lock after Apply's own context has ended.
const lockTimeout = 10 * time.Second

// lockMigrations takes the engine's advisory lock on conn, waiting until it
// is free or ctx ends, and returns the function that releases it. If the
// release fails the connection is discarded, so that a session-level lock
// never stays behind in the pool.
func lockMigrations(ctx context.Context, conn *sql.Conn, engine Engine) (unlock func() error, err error) {
	switch engine {
	case Postgres:
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", postgresLockKey); err != nil {
			return nil, fmt.Errorf("taking the schema migration lock: %w", err)
		}
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
			defer cancel()
			var released bool
			err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", postgresLockKey).Scan(&released)
			if err == nil && !released {
				err = fmt.Errorf("lock %d was not held", postgresLockKey)
			}
			return releaseFailed(conn, err)
		}, nil

	case MySQL:
		// GET_LOCK names are server-wide: include the database, hashed to
		// stay within the 64-character limit.
		var database sql.NullString
		if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
			return nil, fmt.Errorf("reading the current database: %w", err)
		}
		if !database.Valid {
			return nil, fmt.Errorf("the MySQL connection has no current database: put one in the DSN")
		}
		sum := sha256.Sum256([]byte(database.String))
		name := "inboxchat.schema." + hex.EncodeToString(sum[:16])
		for {
			var got sql.NullInt64
			if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, mysqlLockPoll).Scan(&got); err != nil {
				return nil, fmt.Errorf("taking the schema migration lock: %w", err)
			}
			if got.Valid && got.Int64 == 1 {
				break
			}
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("waiting for the schema migration lock %s: %w", name, err)
			}
		}
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
			defer cancel()
			var released sql.NullInt64
			err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", name).Scan(&released)
			if err == nil && (!released.Valid || released.Int64 != 1) {
				err = fmt.Errorf("lock %s was not held", name)
			}
			return releaseFailed(conn, err)
		}, nil
	}
	return nil, fmt.Errorf("unknown database engine %q", engine)
}

// releaseFailed discards conn when releasing its lock failed, and reports err.
func releaseFailed(conn *sql.Conn, err error) error {
	if err == nil {
		return nil
	}
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	return fmt.Errorf("releasing the schema migration lock: %w", err)
}
