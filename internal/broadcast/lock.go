package broadcast

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// runLock is a database advisory lock held for the whole of a run, so that
// two workers never run the same broadcast at once and only a worker that
// holds it turns abandoned claims into unknown outcomes.
type runLock struct {
	conn    *sql.Conn
	release func(context.Context) error
}

// lockRun takes the run lock of broadcast without waiting. It returns a
// Busy *Error when another session holds it.
func lockRun(ctx context.Context, db *sql.DB, engine schema.Engine, broadcast string) (*runLock, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("broadcast: connecting for the run lock: %w", err)
	}
	busy := &Error{Class: Busy, Reason: ReasonAlreadyRunning,
		Message: "another worker is running this broadcast against the same database"}
	switch engine {
	case schema.Postgres:
		// Advisory locks are scoped to the database.
		sum := sha256.Sum256([]byte("inboxchat-operator/broadcast\x00" + broadcast))
		key := int64(binary.BigEndian.Uint64(sum[:8]))
		var got bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("broadcast: taking the run lock: %w", err)
		}
		if !got {
			_ = conn.Close()
			return nil, busy
		}
		return &runLock{conn: conn, release: func(ctx context.Context) error {
			_, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key)
			return err
		}}, nil
	default:
		// GET_LOCK names are server-wide (at most 64 characters): hash the
		// database and the broadcast.
		var database sql.NullString
		if err := conn.QueryRowContext(ctx, `SELECT DATABASE()`).Scan(&database); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("broadcast: taking the run lock: %w", err)
		}
		sum := sha256.Sum256([]byte(database.String + "\x00" + broadcast))
		name := "inboxchat.broadcast." + hex.EncodeToString(sum[:20])
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, 0)`, name).Scan(&got); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("broadcast: taking the run lock: %w", err)
		}
		if !got.Valid || got.Int64 != 1 {
			_ = conn.Close()
			return nil, busy
		}
		return &runLock{conn: conn, release: func(ctx context.Context) error {
			_, err := conn.ExecContext(ctx, `SELECT RELEASE_LOCK(?)`, name)
			return err
		}}, nil
	}
}

// unlock releases the lock and the connection. If the release fails the
// connection is discarded, which ends the session and its lock.
func (k *runLock) unlock() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.release(ctx); err != nil {
		_ = k.conn.Raw(func(any) error { return driver.ErrBadConn }) // discard the connection
	}
	_ = k.conn.Close()
}
