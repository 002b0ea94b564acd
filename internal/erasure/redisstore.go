package erasure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// counterPrefix starts the Redis key that counts what one request's step
// deleted: "inboxchat:erasure:<request uid>:<store>:<collection>". It holds a
// number, no personal data, and expires after counterTTL.
const counterPrefix = "inboxchat:erasure:"

// counterTTL outlives the GDPR deadline of a request (30 days).
const counterTTL = 40 * 24 * time.Hour

// deleteAndCount deletes KEYS[2..] and adds how many existed to the counter
// KEYS[1], in one atomic call: a worker killed at any point has either done
// both or neither, so the count survives the restart exactly.
var deleteAndCount = redis.NewScript(`
local n = 0
if #KEYS > 1 then n = redis.call('DEL', unpack(KEYS, 2)) end
if n > 0 then redis.call('INCRBY', KEYS[1], n) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return n
`)

// redisStore is the adapter of the redis store: keys found through the
// patterns and routes of the data map (sessions through the per-user index
// set), deleted in batches.
type redisStore struct {
	rdb      *redis.Client
	ledger   *ledger
	request  string
	colls    map[string]*datamap.Collection
	patterns map[string]datamap.Pattern
	batch    int
	settings map[string]time.Duration
}

// retainedReasons says why a retain step keeps its keys.
func (s *redisStore) retainedReasons(step datamap.Step) ([]string, error) {
	var out []string
	for _, f := range step.Retained {
		d, err := f.Period.Resolve(s.settings)
		if err != nil {
			return nil, err
		}
		out = append(out, retainedReason(f.Reason, step.Collection, d))
	}
	return out, nil
}

// Count implements storeAdapter.
func (s *redisStore) Count(ctx context.Context, t target) (tally, error) {
	var res tally
	keys, err := s.find(ctx, t.step.Collection, t.step.Routes, t.ids)
	if err != nil {
		return res, stepErr(t.step.Store, t.step.Collection, "finding keys", err)
	}
	n, err := s.existing(ctx, keys)
	if err != nil {
		return res, stepErr(t.step.Store, t.step.Collection, "counting keys", err)
	}
	if t.step.Action != datamap.ActionRetain {
		res.Erased = n
		return res, nil
	}
	res.Retained = n
	if n > 0 {
		reasons, err := s.retainedReasons(t.step)
		if err != nil {
			return res, stepErr(t.step.Store, t.step.Collection, "resolving the retention period", err)
		}
		res.addReasons(reasons...)
	}
	return res, nil
}

// Verify implements storeAdapter.
func (s *redisStore) Verify(ctx context.Context, t target) (tally, error) {
	c, err := s.Count(ctx, t)
	return tally{Remaining: c.Erased, Retained: c.Retained, Reasons: c.Reasons}, err
}

// Erase implements storeAdapter. Keys are deleted in batches through
// deleteAndCount; the ledger row is written once the step's own check finds
// none left, with the counter's total.
func (s *redisStore) Erase(ctx context.Context, t target) (tally, error) {
	store, step := t.step.Store, t.step.Collection
	row, ok, err := s.ledger.get(ctx, s.ledger.db, store, step)
	if err != nil {
		return tally{}, err
	}
	if ok && row.done() && !t.again {
		return row.tally(), nil
	}
	if t.step.Action == datamap.ActionRetain {
		res, err := s.Count(ctx, t)
		if err != nil {
			return tally{}, err
		}
		res.add(t.held)
		return res, s.ledger.record(ctx, s.ledger.db, store, step, res)
	}

	counter := counterPrefix + s.request + ":" + store + ":" + step
	if t.again {
		counter += ":again"
	}
	for attempt := 1; ; attempt++ {
		keys, err := s.find(ctx, step, t.step.Routes, t.ids)
		if err != nil {
			return tally{}, stepErr(store, step, "finding keys", err)
		}
		for batch := range slices.Chunk(keys, s.batch) {
			if err := deleteAndCount.Run(ctx, s.rdb, append([]string{counter}, batch...), int64(counterTTL/time.Second)).Err(); err != nil {
				return tally{}, stepErr(store, step, "deleting keys", err)
			}
			if t.partial != nil {
				if err := t.partial(); err != nil {
					return tally{}, err
				}
			}
		}
		if keys, err = s.find(ctx, step, t.step.Routes, t.ids); err != nil {
			return tally{}, stepErr(store, step, "finding keys", err)
		}
		left, err := s.existing(ctx, keys)
		if err != nil {
			return tally{}, stepErr(store, step, "checking the erasure", err)
		}
		if left == 0 {
			break
		}
		if attempt == maxAttempts {
			return tally{}, &StepError{Store: store, Step: step, Op: "deleting keys",
				Err: fmt.Errorf("%d keys still found after %d attempts", left, maxAttempts)}
		}
	}
	erased, err := s.rdb.Get(ctx, counter).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return tally{}, stepErr(store, step, "reading the deletion counter", err)
	}
	res := tally{Erased: erased}
	if t.again {
		res = row.tally()
		res.Erased += erased
		res.Remaining = 0
	} else {
		res.add(t.held)
	}
	if err := s.ledger.record(ctx, s.ledger.db, store, step, res); err != nil {
		return tally{}, err
	}
	// The count is in the ledger now; a counter left by a kill expires.
	_ = s.rdb.Del(ctx, counter).Err()
	return res, nil
}

// Export implements storeAdapter: each existing key with its type, time to
// live and value.
func (s *redisStore) Export(ctx context.Context, t target, c *ArchiveCollection) (int64, error) {
	keys, err := s.find(ctx, t.step.Collection, t.step.Routes, t.ids)
	if err != nil {
		return 0, stepErr(t.step.Store, t.step.Collection, "finding keys", err)
	}
	var n int64
	for _, key := range keys {
		k, ok, err := s.exportKey(ctx, key)
		if err != nil {
			return n, stepErr(t.step.Store, t.step.Collection, "exporting keys", err)
		}
		if ok {
			c.Keys = append(c.Keys, k)
			n++
		}
	}
	return n, nil
}

// exportKey reads one key; ok is false when it does not exist.
func (s *redisStore) exportKey(ctx context.Context, key string) (ArchiveKey, bool, error) {
	typ, err := s.rdb.Type(ctx, key).Result()
	if err != nil {
		return ArchiveKey{}, false, err
	}
	k := ArchiveKey{Key: key, Type: typ, TTLSeconds: -1}
	switch typ {
	case "none":
		return k, false, nil
	case "string":
		v, err := s.rdb.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			return k, false, nil
		}
		if err != nil {
			return k, false, err
		}
		k.Value = textOrBase64(v)
	case "hash":
		if k.Value, err = s.rdb.HGetAll(ctx, key).Result(); err != nil {
			return k, false, err
		}
	case "set":
		if k.Value, err = s.members(ctx, key, "set"); err != nil {
			return k, false, err
		}
	case "zset":
		zs, err := s.rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
		if err != nil {
			return k, false, err
		}
		type scored struct {
			Member string  `json:"member"`
			Score  float64 `json:"score"`
		}
		out := make([]scored, len(zs))
		for i, z := range zs {
			out[i] = scored{Member: fmt.Sprint(z.Member), Score: z.Score}
		}
		k.Value = out
	case "list":
		if k.Value, err = s.rdb.LRange(ctx, key, 0, -1).Result(); err != nil {
			return k, false, err
		}
	default:
		k.Value = "(a " + typ + " value is not exported)"
	}
	if ttl, err := s.rdb.PTTL(ctx, key).Result(); err == nil && ttl > 0 {
		k.TTLSeconds = int64(ttl / time.Second)
	}
	return k, true, nil
}

// EraseAll implements tenantAdapter: every key of the collection's pattern
// (all placeholders unbound), found with SCAN and deleted batch by batch.
func (s *redisStore) EraseAll(ctx context.Context, c tenantCollection) (int64, error) {
	glob, _, err := expandPartial(c.pattern, nil)
	if err != nil {
		return 0, stepErr(c.store, c.name, "expanding the key pattern", err)
	}
	var (
		deleted int64
		cursor  uint64
	)
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, glob, int64(s.batch)).Result()
		if err != nil {
			return deleted, stepErr(c.store, c.name, "scanning keys", err)
		}
		if len(keys) > 0 {
			n, err := s.rdb.Del(ctx, keys...).Result()
			deleted += n
			if err != nil {
				return deleted, stepErr(c.store, c.name, "deleting keys", err)
			}
		}
		if cursor = next; cursor == 0 {
			return deleted, nil
		}
	}
}

// CountAll implements tenantAdapter.
func (s *redisStore) CountAll(ctx context.Context, c tenantCollection) (int64, error) {
	glob, _, err := expandPartial(c.pattern, nil)
	if err != nil {
		return 0, stepErr(c.store, c.name, "expanding the key pattern", err)
	}
	keys, err := s.scan(ctx, glob)
	if err != nil {
		return 0, stepErr(c.store, c.name, "scanning keys", err)
	}
	return int64(len(keys)), nil
}
