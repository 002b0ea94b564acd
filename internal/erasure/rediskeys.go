package erasure

import (
	"context"
	"fmt"
	"slices"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// find returns the keys of a collection that belong to ids, following the
// routes. A pattern whose placeholders the route binds expands to exact
// keys (which may not exist); any other is matched with SCAN, never KEYS.
func (s *redisStore) find(ctx context.Context, collection string, routes []datamap.Route, ids []string) ([]string, error) {
	p, ok := s.patterns[collection]
	if !ok {
		return nil, fmt.Errorf("collection %s has no key pattern", collection)
	}
	var keys []string
	for _, r := range routes {
		for _, id := range ids {
			valueSets, err := s.routeValues(ctx, r, id)
			if err != nil {
				return nil, err
			}
			for _, vs := range valueSets {
				k, exact, err := expandPartial(p, vs)
				if err != nil {
					return nil, fmt.Errorf("expanding the key pattern of %s: %w", collection, err)
				}
				if exact {
					keys = append(keys, k)
					continue
				}
				matched, err := s.scan(ctx, k)
				if err != nil {
					return nil, err
				}
				keys = append(keys, matched...)
			}
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

// routeValues returns the placeholder values that one route binds for id:
// the id itself, or, through a hop, each member of the referenced sets.
func (s *redisStore) routeValues(ctx context.Context, r datamap.Route, id string) ([]map[string]string, error) {
	if len(r.Hops) == 0 {
		return []map[string]string{{r.Field: id}}, nil
	}
	h := r.Hops[0]
	parents, err := s.find(ctx, h.Collection, []datamap.Route{{Hops: r.Hops[1:], Field: r.Field}}, []string{id})
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for _, key := range parents {
		members, err := s.members(ctx, key, s.colls[h.Collection].Type)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			out = append(out, map[string]string{h.Field: m})
		}
	}
	return out, nil
}

// members reads a set or sorted set in batches (SSCAN, ZSCAN).
func (s *redisStore) members(ctx context.Context, key, typ string) ([]string, error) {
	var (
		out    []string
		cursor uint64
	)
	for {
		var (
			batch []string
			err   error
		)
		if typ == "zset" {
			batch, cursor, err = s.rdb.ZScan(ctx, key, cursor, "", int64(s.batch)).Result()
			// ZSCAN returns member, score pairs.
			for i := 0; i < len(batch); i += 2 {
				out = append(out, batch[i])
			}
		} else {
			batch, cursor, err = s.rdb.SScan(ctx, key, cursor, "", int64(s.batch)).Result()
			out = append(out, batch...)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the members of a referenced set: %w", Scrub(err))
		}
		if cursor == 0 {
			return out, nil
		}
	}
}

// scan returns the keys matching a glob, with SCAN in batches.
func (s *redisStore) scan(ctx context.Context, glob string) ([]string, error) {
	var (
		out    []string
		cursor uint64
	)
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, glob, int64(s.batch)).Result()
		if err != nil {
			return nil, fmt.Errorf("scanning keys: %w", Scrub(err))
		}
		out = append(out, keys...)
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// existing counts which of keys exist, in batches of EXISTS.
func (s *redisStore) existing(ctx context.Context, keys []string) (int64, error) {
	var n int64
	for batch := range slices.Chunk(keys, s.batch) {
		c, err := s.rdb.Exists(ctx, batch...).Result()
		if err != nil {
			return n, fmt.Errorf("checking keys: %w", Scrub(err))
		}
		n += c
	}
	return n, nil
}
