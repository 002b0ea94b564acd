package retention

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// Batch sizes.
const (
	// DefaultBatchSize is the batch size when Config.BatchSize is zero.
	DefaultBatchSize = 1000
	// MaxBatchSize bounds Config.BatchSize.
	MaxBatchSize = 10000
)

// Config is what Prune needs. Every field but Now, BatchSize and Logger is
// required.
type Config struct {
	// DB is the tenant's database with the reference schema.
	DB *sql.DB
	// Engine is DB's engine.
	Engine schema.Engine
	// Redis is the tenant's session store, a single Redis server (6.0 or
	// later); SCAN on a cluster client would see one node only.
	Redis *redis.Client
	// FilesRoot is the root of the tenant's files volume; exports live in
	// its exports folder.
	FilesRoot string
	// SecurityLogs is how long security_log rows are kept
	// (Tenant spec.retention.securityLogs).
	SecurityLogs time.Duration
	// Exports is how long export files are kept (Tenant
	// spec.retention.exports).
	Exports time.Duration
	// Now is the clock; default time.Now. Prune reads it once.
	Now func() time.Time
	// BatchSize is how many rows one DELETE removes and how many keys one
	// SCAN asks for. Default DefaultBatchSize, at most MaxBatchSize.
	BatchSize int
	// Logger receives a record per step. Default: no logging.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports every problem with c. A retention period of zero or
// less would delete everything, so it is an error rather than a default.
func (c Config) validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("DB is nil"))
	}
	if c.Engine.DriverName() == "" {
		errs = append(errs, fmt.Errorf("engine %q is not %q or %q", c.Engine, schema.Postgres, schema.MySQL))
	}
	if c.Redis == nil {
		errs = append(errs, errors.New("Redis is nil"))
	}
	if c.FilesRoot == "" {
		errs = append(errs, errors.New("FilesRoot is empty"))
	}
	if c.SecurityLogs <= 0 {
		errs = append(errs, fmt.Errorf("SecurityLogs is %s, want a positive period", c.SecurityLogs))
	}
	if c.Exports <= 0 {
		errs = append(errs, fmt.Errorf("Exports is %s, want a positive period", c.Exports))
	}
	if c.BatchSize < 0 || c.BatchSize > MaxBatchSize {
		errs = append(errs, fmt.Errorf("BatchSize is %d, want 1 to %d", c.BatchSize, MaxBatchSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("retention: invalid config: %w", err)
	}
	return nil
}
