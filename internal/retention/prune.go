package retention

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Report says what one Prune deleted. It holds no personal data.
type Report struct {
	// RanAt is the instant the retention periods were counted back from.
	RanAt time.Time
	// SecurityLogsPruned is how many security_log rows were deleted.
	SecurityLogsPruned int64
	// ExportsPruned is how many export files were deleted.
	ExportsPruned int64
	// SessionsPruned is how many session keys (sess:<id>) of users who no
	// longer exist or are deleted were deleted.
	SessionsPruned int64
	// SessionIndexesPruned is how many index sets (user_sessions:<userID>)
	// of such users were deleted.
	SessionIndexesPruned int64
	// StaleSessionRefsPruned is how many members of live users' index sets
	// that named expired sessions were removed.
	StaleSessionRefsPruned int64
}

// Prune deletes the security-log rows, export files and sessions that are
// past retention or orphaned (see the package documentation) and reports
// how many of each it deleted. A failing step does not stop the others: the
// report counts what was deleted and the error joins every step's failure.
func Prune(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	now := cfg.Now().UTC()
	r := Report{RanAt: now}
	var errs []error

	n, err := pruneSecurityLog(ctx, cfg.DB, cfg.Engine, now.Add(-cfg.SecurityLogs), cfg.BatchSize)
	r.SecurityLogsPruned = n
	if err != nil {
		errs = append(errs, fmt.Errorf("retention: security log: %w", err))
	}
	cfg.Logger.Info("pruned the security log", "deleted", n, "olderThan", cfg.SecurityLogs.String())

	n, err = pruneExports(ctx, cfg.FilesRoot, now, cfg.Exports, cfg.Logger)
	r.ExportsPruned = n
	if err != nil {
		errs = append(errs, fmt.Errorf("retention: exports: %w", err))
	}
	cfg.Logger.Info("pruned exports", "deleted", n, "olderThan", cfg.Exports.String())

	s, err := pruneSessions(ctx, cfg)
	r.SessionsPruned, r.SessionIndexesPruned, r.StaleSessionRefsPruned = s.sessions, s.indexes, s.staleRefs
	if err != nil {
		errs = append(errs, fmt.Errorf("retention: sessions: %w", err))
	}
	cfg.Logger.Info("pruned orphaned sessions", "sessions", s.sessions, "indexSets", s.indexes, "staleRefs", s.staleRefs)

	return r, errors.Join(errs...)
}
