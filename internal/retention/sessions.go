package retention

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// Session key names (docs/data-map.md, the built-in data map).
const (
	sessionKeyPrefix = "sess:"
	indexKeyPrefix   = "user_sessions:"
)

// sessionCounts are what pruneSessions deleted.
type sessionCounts struct {
	sessions, indexes, staleRefs int64
}

// pruneSessions walks the index sets with SCAN and prunes each batch.
func pruneSessions(ctx context.Context, cfg Config) (sessionCounts, error) {
	var c sessionCounts
	empty, err := usersTableEmpty(ctx, cfg.DB)
	if err != nil {
		return c, err
	}
	var cursor uint64
	for {
		keys, next, err := cfg.Redis.ScanType(ctx, cursor, indexKeyPrefix+"*", int64(cfg.BatchSize), "set").Result()
		if err != nil {
			return c, fmt.Errorf("scanning the session index sets: %w", err)
		}
		if len(keys) > 0 && empty {
			return c, errors.New("the users table is empty but session index sets exist: " +
				"refusing to treat every session as orphaned (is this the tenant's database?)")
		}
		if err := pruneIndexBatch(ctx, cfg, keys, &c); err != nil {
			return c, err
		}
		if cursor = next; cursor == 0 {
			return c, nil
		}
	}
}

// usersTableEmpty reports whether users has no row at all.
func usersTableEmpty(ctx context.Context, db *sql.DB) (bool, error) {
	var one int
	err := db.QueryRowContext(ctx, "SELECT 1 FROM users LIMIT 1").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading users: %w", err)
	}
	return false, nil
}

// pruneIndexBatch prunes the index sets of one SCAN batch: orphaned ones
// whole, live users' ones of their stale members. Keys whose user id is not
// a positive integer are not ours to judge and are left alone.
func pruneIndexBatch(ctx context.Context, cfg Config, keys []string, c *sessionCounts) error {
	owners := make(map[string]int64, len(keys))
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		id, err := strconv.ParseInt(strings.TrimPrefix(k, indexKeyPrefix), 10, 64)
		if err != nil || id <= 0 {
			continue
		}
		owners[k] = id
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	live, err := liveUsers(ctx, cfg.DB, cfg.Engine, ids)
	if err != nil {
		return err
	}
	for _, k := range keys {
		id, ok := owners[k]
		if !ok {
			continue
		}
		if live[id] {
			n, err := removeStaleRefs(ctx, cfg.Redis, k, cfg.BatchSize)
			c.staleRefs += n
			if err != nil {
				return err
			}
			continue
		}
		n, err := deleteOrphanedIndex(ctx, cfg.Redis, k, cfg.BatchSize)
		c.sessions += n
		if err != nil {
			return err
		}
		c.indexes++
	}
	return nil
}

// liveUsers returns which of ids are users that exist and are not deleted.
func liveUsers(ctx context.Context, db *sql.DB, engine schema.Engine, ids []int64) (map[int64]bool, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := rebind(engine, "SELECT id FROM users WHERE deleted_at IS NULL AND id IN (?"+strings.Repeat(", ?", len(ids)-1)+")")
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("looking up the owners of session index sets: %w", err)
	}
	defer rows.Close()
	live := make(map[int64]bool, len(ids))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("looking up the owners of session index sets: %w", err)
		}
		live[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("looking up the owners of session index sets: %w", err)
	}
	return live, nil
}

// deleteOrphanedIndex deletes every session the index set lists, then the
// set, and returns how many session keys existed and were deleted. Killed
// half-way, it leaves the set, so the next run finishes the job.
func deleteOrphanedIndex(ctx context.Context, rdb *redis.Client, key string, batch int) (int64, error) {
	var (
		deleted int64
		cursor  uint64
	)
	for {
		members, next, err := rdb.SScan(ctx, key, cursor, "", int64(batch)).Result()
		if err != nil {
			return deleted, fmt.Errorf("reading an orphaned session index set: %w", err)
		}
		if keys := sessionKeys(members); len(keys) > 0 {
			n, err := rdb.Del(ctx, keys...).Result()
			deleted += n
			if err != nil {
				return deleted, fmt.Errorf("deleting orphaned sessions: %w", err)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if err := rdb.Del(ctx, key).Err(); err != nil {
		return deleted, fmt.Errorf("deleting an orphaned session index set: %w", err)
	}
	return deleted, nil
}

// removeStaleRefs removes from a live user's index set the members whose
// session key no longer exists, and returns how many it removed.
func removeStaleRefs(ctx context.Context, rdb *redis.Client, key string, batch int) (int64, error) {
	var (
		removed int64
		cursor  uint64
	)
	for {
		members, next, err := rdb.SScan(ctx, key, cursor, "", int64(batch)).Result()
		if err != nil {
			return removed, fmt.Errorf("reading a session index set: %w", err)
		}
		stale, err := missingSessions(ctx, rdb, members)
		if err != nil {
			return removed, err
		}
		if len(stale) > 0 {
			n, err := rdb.SRem(ctx, key, stale...).Result()
			removed += n
			if err != nil {
				return removed, fmt.Errorf("removing expired sessions from an index set: %w", err)
			}
		}
		if cursor = next; cursor == 0 {
			return removed, nil
		}
	}
}

// missingSessions returns the members whose session key does not exist,
// checked in one pipeline.
func missingSessions(ctx context.Context, rdb *redis.Client, members []string) ([]any, error) {
	if len(members) == 0 {
		return nil, nil
	}
	pipe := rdb.Pipeline()
	checks := make([]*redis.IntCmd, len(members))
	for i, m := range members {
		checks[i] = pipe.Exists(ctx, sessionKeyPrefix+m)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("checking sessions: %w", err)
	}
	var stale []any
	for i, c := range checks {
		if c.Val() == 0 {
			stale = append(stale, members[i])
		}
	}
	return stale, nil
}

// sessionKeys turns index set members into session key names, skipping
// empty members (which would name the key "sess:").
func sessionKeys(members []string) []string {
	keys := make([]string, 0, len(members))
	for _, m := range members {
		if m != "" {
			keys = append(keys, sessionKeyPrefix+m)
		}
	}
	return keys
}
