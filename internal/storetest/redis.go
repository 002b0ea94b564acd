package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisEnv names the environment variable that overrides the Redis admin URL
// (e.g. "redis://127.0.0.1:6379/0"). The database index in that URL holds
// storetest's lease keys and is never handed to a test.
const RedisEnv = "INBOXCHAT_TEST_REDIS"

// defaultRedisURL is the local Redis server.
const defaultRedisURL = "redis://127.0.0.1:6379/0"

// Keys that storetest keeps in the admin database. Nothing else there is read
// or written.
const (
	// redisLeaseKeyPrefix + index is set (with a TTL) while a test holds that
	// database.
	redisLeaseKeyPrefix = "inboxchat:storetest:lease:"
	// redisUsedKey is a set of the indexes storetest has ever handed out: a
	// non-empty database in it is a leftover of a killed test, any other
	// non-empty database belongs to someone else and is never flushed.
	redisUsedKey = "inboxchat:storetest:used"
)

// Lease timing: a lease outlives a killed test process by at most
// redisLeaseTTL; a live test refreshes it every redisLeaseRefresh.
const (
	redisLeaseTTL     = 60 * time.Second
	redisLeaseRefresh = 15 * time.Second
	redisLeaseWait    = 2 * time.Minute
)

var (
	// redisRefresh extends a lease only if this test still holds it.
	redisRefresh = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
	// redisRelease deletes a lease only if this test still holds it.
	redisRelease = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
)

// Redis leases a whole logical Redis database (a SELECT index) for the test
// and returns a URL that connects to it, e.g. "redis://127.0.0.1:6379/7".
// The application's real key names (sess:<id>, user_sessions:<userID>) can be
// used as they are, without a test prefix.
//
// Safety: a database is handed out only while the test holds a lease key in
// the admin database (SET NX with a TTL, refreshed while the test runs), so
// concurrent tests, also from other packages and processes, never share one.
// A database is taken only if it is empty or was handed out by storetest
// before (a leftover of a killed test); a database holding anyone else's keys
// is skipped and never flushed. In t.Cleanup the leased database is flushed
// (FLUSHDB on that index only) and the lease released. When every database is
// leased, Redis waits up to two minutes for one to become free.
func Redis(t testing.TB) string {
	t.Helper()
	adminURL := defaultRedisURL
	if env := os.Getenv(RedisEnv); env != "" {
		adminURL = env
	}
	opts, err := redis.ParseURL(adminURL)
	if err != nil {
		t.Fatalf("storetest: parsing %s admin URL: %v", redisService.name, err)
	}
	admin := redis.NewClient(opts)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = admin.Ping(ctx).Err()
	cancel()
	if err != nil {
		_ = admin.Close()
		failUnreachable(t, redisService, opts.Addr, err)
	}

	lease, err := leaseRedisDatabase(admin, opts)
	if err != nil {
		_ = admin.Close()
		t.Fatalf("storetest: %v", err)
	}
	stop := lease.keepAlive(t)
	t.Cleanup(func() {
		stop()
		if err := lease.release(); err != nil {
			t.Errorf("storetest: %v", err)
		}
		_ = admin.Close()
	})

	u, err := redisURLWithDatabase(adminURL, lease.index)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return u
}

// redisLease is one test's hold on one logical database.
type redisLease struct {
	admin *redis.Client // admin database, where the lease key lives
	db    *redis.Client // the leased database
	index int
	key   string
	token string
}

// leaseRedisDatabase finds a database that no other test holds and that holds
// no foreign data, and leases it.
func leaseRedisDatabase(admin *redis.Client, opts *redis.Options) (*redisLease, error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisLeaseWait)
	defer cancel()

	count := redisDatabaseCount(ctx, admin)
	token := uniqueName()
	foreign := map[int]bool{opts.DB: true}
	for {
		for _, index := range rand.Perm(count) {
			if foreign[index] {
				continue
			}
			l, err := tryLease(ctx, admin, opts, index, token)
			if err != nil {
				return nil, err
			}
			if l == nil {
				continue
			}
			ok, err := l.prepare(ctx)
			if err != nil {
				_ = l.unlease()
				return nil, err
			}
			if ok {
				return l, nil
			}
			// Someone else's data: give the lease back without touching it.
			foreign[index] = true
			if err := l.unlease(); err != nil {
				return nil, err
			}
		}
		if len(foreign) == count {
			return nil, fmt.Errorf("every %s database except the admin one (%d) holds keys that storetest did not write; "+
				"point %s at a server with a free database", redisService.name, opts.DB, RedisEnv)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no %s database became free within %s: all %d are leased by other tests",
				redisService.name, redisLeaseWait, count-len(foreign))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// redisDatabaseCount asks the server how many databases it has; managed
// servers that refuse CONFIG get the Redis default of 16.
func redisDatabaseCount(ctx context.Context, admin *redis.Client) int {
	res, err := admin.ConfigGet(ctx, "databases").Result()
	if err == nil {
		if n, err := strconv.Atoi(res["databases"]); err == nil && n > 0 {
			return n
		}
	}
	return 16
}

// tryLease takes the lease on index, or returns nil when another test holds it.
func tryLease(ctx context.Context, admin *redis.Client, opts *redis.Options, index int, token string) (*redisLease, error) {
	key := redisLeaseKeyPrefix + strconv.Itoa(index)
	ok, err := admin.SetNX(ctx, key, token, redisLeaseTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("leasing %s database %d: %w", redisService.name, index, err)
	}
	if !ok {
		return nil, nil
	}
	dbOpts := *opts
	dbOpts.DB = index
	return &redisLease{admin: admin, db: redis.NewClient(&dbOpts), index: index, key: key, token: token}, nil
}

// prepare makes the leased database empty, refusing (false) one that holds
// foreign keys.
func (l *redisLease) prepare(ctx context.Context) (bool, error) {
	size, err := l.db.DBSize(ctx).Result()
	if err != nil {
		return false, fmt.Errorf("sizing %s database %d: %w", redisService.name, l.index, err)
	}
	if size > 0 {
		ours, err := l.admin.SIsMember(ctx, redisUsedKey, l.index).Result()
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", redisUsedKey, err)
		}
		if !ours {
			return false, nil
		}
		if err := l.db.FlushDB(ctx).Err(); err != nil {
			return false, fmt.Errorf("flushing leftover %s database %d: %w", redisService.name, l.index, err)
		}
	}
	if err := l.admin.SAdd(ctx, redisUsedKey, l.index).Err(); err != nil {
		return false, fmt.Errorf("recording %s database %d in %s: %w", redisService.name, l.index, redisUsedKey, err)
	}
	return true, nil
}

// keepAlive refreshes the lease until the returned stop function is called.
// Losing the lease (e.g. the process was stopped for longer than its TTL) is
// reported as a test error: another test may have used the database.
func (l *redisLease) keepAlive(t testing.TB) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(redisLeaseRefresh)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				n, err := redisRefresh.Run(ctx, l.admin, []string{l.key}, l.token, redisLeaseTTL.Milliseconds()).Int()
				cancel()
				if err == nil && n == 0 {
					t.Errorf("storetest: lost the lease on %s database %d; another test may have used it", redisService.name, l.index)
					return
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// release flushes the leased database and gives the lease back. If the flush
// fails the lease is kept until its TTL runs out, and the index stays in the
// used set, so the next test to take it flushes it first.
func (l *redisLease) release() error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := l.db.FlushDB(ctx).Err(); err != nil {
		_ = l.db.Close()
		return fmt.Errorf("flushing %s database %d: %w", redisService.name, l.index, err)
	}
	return l.unlease()
}

// unlease gives the lease back without touching the database's keys.
func (l *redisLease) unlease() error {
	defer l.db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := redisRelease.Run(ctx, l.admin, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("releasing the lease on %s database %d: %w", redisService.name, l.index, err)
	}
	return nil
}

// redisURLWithDatabase returns adminURL pointed at database index.
func redisURLWithDatabase(adminURL string, index int) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("parsing %s admin URL: %w", redisService.name, err)
	}
	if u.Scheme == "unix" {
		q := u.Query()
		q.Set("db", strconv.Itoa(index))
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	u.Path = "/" + strconv.Itoa(index)
	u.RawPath = ""
	return u.String(), nil
}
