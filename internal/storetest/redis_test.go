package storetest

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestRedisLeasesADistinctDatabaseAndFlushesIt(t *testing.T) {
	ctx := context.Background()
	var opts *redis.Options
	t.Run("use", func(t *testing.T) {
		a, b := Redis(t), Redis(t)
		var err error
		opts, err = redis.ParseURL(a)
		if err != nil {
			t.Fatalf("Redis returned an unparsable URL %q: %v", a, err)
		}
		optsB, err := redis.ParseURL(b)
		if err != nil {
			t.Fatal(err)
		}
		if opts.DB == optsB.DB {
			t.Fatalf("two leases share database %d", opts.DB)
		}
		if opts.DB == 0 {
			t.Fatalf("leased the admin database 0")
		}
		c := redis.NewClient(opts)
		defer c.Close()
		if err := c.Set(ctx, "sess:abc", "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		other := redis.NewClient(optsB)
		defer other.Close()
		if n, err := other.Exists(ctx, "sess:abc").Result(); err != nil || n != 0 {
			t.Fatalf("a key written in database %d is visible in database %d (exists=%d, err=%v)", opts.DB, optsB.DB, n, err)
		}
	})

	c := redis.NewClient(opts)
	defer c.Close()
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("database %d holds %d keys after the test that leased it finished (err=%v)", opts.DB, n, err)
	}
	admin, _ := redis.ParseURL(defaultRedisURL)
	ac := redis.NewClient(admin)
	defer ac.Close()
	if n, err := ac.Exists(ctx, redisLeaseKeyPrefix+strconv.Itoa(opts.DB)).Result(); err != nil || n != 0 {
		t.Errorf("the lease on database %d was not released (exists=%d, err=%v)", opts.DB, n, err)
	}
}

func TestRedisNeverFlushesForeignData(t *testing.T) {
	ctx := context.Background()
	// Find a database that is empty and not leased, put a foreign key in it
	// while holding its lease, then check that Redis skips it.
	adminOpts, _ := redis.ParseURL(defaultRedisURL)
	admin := redis.NewClient(adminOpts)
	defer admin.Close()
	if err := admin.Ping(ctx).Err(); err != nil {
		failUnreachable(t, redisService, adminOpts.Addr, err)
	}
	l, err := leaseRedisDatabase(admin, adminOpts)
	if err != nil {
		t.Fatal(err)
	}
	// Forget that storetest used it, so its content counts as foreign.
	if err := admin.SRem(ctx, redisUsedKey, l.index).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.db.Set(ctx, "foreign", "keep me", 0).Err(); err != nil {
		t.Fatal(err)
	}
	foreignDB := l.index
	if err := l.unlease(); err != nil {
		t.Fatal(err)
	}
	fo := *adminOpts
	fo.DB = foreignDB
	fc := redis.NewClient(&fo)
	defer fc.Close()
	defer fc.Del(ctx, "foreign")

	for range 3 {
		u := Redis(t)
		o, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		if o.DB == foreignDB {
			t.Fatalf("leased database %d that holds a foreign key", foreignDB)
		}
	}
	if v, err := fc.Get(ctx, "foreign").Result(); err != nil || v != "keep me" {
		t.Errorf("foreign key in database %d = %q, %v; want it untouched", foreignDB, v, err)
	}
}

func TestRedisURLWithDatabase(t *testing.T) {
	for _, tc := range []struct{ admin, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/5"},
		{"redis://:pw@h:1", "redis://:pw@h:1/5"},
		{"unix:///tmp/redis.sock?db=0", "unix:///tmp/redis.sock?db=5"},
	} {
		got, err := redisURLWithDatabase(tc.admin, 5)
		if err != nil || got != tc.want {
			t.Errorf("redisURLWithDatabase(%q) = %q, %v; want %q", tc.admin, got, err, tc.want)
		}
	}
}
