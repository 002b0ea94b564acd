package erasure

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
)

// StepError is a failure of one step of an erasure. Its message names the
// store, the step and what was being done, never a value: the underlying
// error is reduced to what carries no personal data (see [Scrub]).
type StepError struct {
	// Store is the data map's store name, or "ledger" for the erasure
	// ledger.
	Store string
	// Step is the collection, or a phase such as "resolve" or "export".
	Step string
	// Op says what failed, e.g. "deleting rows".
	Op string
	// Err is the scrubbed cause.
	Err error
}

// Error returns "store/step: op: cause".
func (e *StepError) Error() string {
	return fmt.Sprintf("%s/%s: %s: %v", e.Store, e.Step, e.Op, e.Err)
}

// Unwrap returns the scrubbed cause.
func (e *StepError) Unwrap() error { return e.Err }

// stepErr wraps err, scrubbed, as a StepError; nil stays nil.
func stepErr(store, step, op string, err error) error {
	if err == nil {
		return nil
	}
	var se *StepError
	if errors.As(err, &se) {
		return err
	}
	return &StepError{Store: store, Step: step, Op: op, Err: Scrub(err)}
}

// scrubbed is an error whose message keeps only what is safe to log; Unwrap
// returns the original for errors.Is and errors.As.
type scrubbed struct {
	msg  string
	orig error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.orig }

// Scrub returns an error whose message carries no values: PostgreSQL and
// MySQL errors become their codes and the names of the constraint or table
// involved (their messages may quote a value), file errors lose their paths
// (a path holds a subject's id and file names), and errors of unknown types
// are replaced by a generic message. Connection, context and Redis server
// errors are kept as they are. The original stays reachable through
// errors.As and errors.Is.
func Scrub(err error) error {
	if err == nil {
		return nil
	}
	var already *scrubbed
	var holds *LegalHoldsError
	if errors.As(err, &already) || errors.As(err, &holds) {
		return err // a count, no values
	}
	var (
		pgErr    *pgconn.PgError
		myErr    *mysql.MySQLError
		pathErr  *fs.PathError
		linkErr  *os.LinkError
		sysErr   *os.SyscallError
		netErr   *net.OpError
		redisErr redis.Error
	)
	msg := ""
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &pgErr):
		msg = "PostgreSQL error SQLSTATE " + pgErr.Code
		if pgErr.ConstraintName != "" {
			msg += " on constraint " + pgErr.ConstraintName
		} else if pgErr.TableName != "" {
			msg += " on table " + pgErr.TableName
		}
	case errors.As(err, &myErr):
		msg = fmt.Sprintf("MySQL error %d (SQLSTATE %s)", myErr.Number, string(myErr.SQLState[:]))
	case errors.As(err, &pathErr):
		msg = pathErr.Op + ": " + pathErr.Err.Error()
	case errors.As(err, &linkErr):
		msg = linkErr.Op + ": " + linkErr.Err.Error()
	case errors.As(err, &sysErr):
		msg = sysErr.Error()
	case errors.As(err, &netErr):
		msg = netErr.Error()
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, sql.ErrTxDone),
		errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, redis.ErrClosed), errors.Is(err, fs.ErrNotExist),
		errors.Is(err, fs.ErrPermission):
		msg = err.Error()
	case errors.As(err, &redisErr):
		// Redis server replies ("WRONGTYPE ...", "NOSCRIPT ...") name no
		// keys or values.
		msg = "Redis: " + redisErr.Error()
	default:
		msg = fmt.Sprintf("%T error (message withheld: it may contain personal data)", err)
	}
	return &scrubbed{msg: msg, orig: err}
}

// ErrNotErased means that the verification found records of the subject
// that should be gone; the Result's Remaining counts say where.
var ErrNotErased = errors.New("erasure: verification found records that should be gone")

// ErrSubjectLost means that a request that had found its subject can no
// longer find it, although its ledger shows steps that never finished:
// something other than this request removed the subject's root row.
var ErrSubjectLost = errors.New("erasure: the subject can no longer be found but the ledger shows unfinished steps")

// ErrStopped is returned by a run that Options.AfterStep stopped.
var ErrStopped = errors.New("erasure: stopped after a step by Options.AfterStep")
