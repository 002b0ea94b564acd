package erasure

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// The erasure_ledger (reference schema) holds one row per request, store and
// step: the request is the request UID, never the subject. Besides the
// plan's steps (store name, collection name) a request records:
const (
	// requestStore is the store column of the request's own rows. It is
	// not a valid data map name, so it never collides with a store.
	requestStore = "(request)"
	// stepResolved records that the subject was resolved; erased_count
	// holds how many internal ids it resolved to (the ids are not kept).
	stepResolved = "resolved"
	// stepVerified records that the request completed and was verified.
	stepVerified = "verified"
	// stepExportPrefix starts the export's row: "export:" and the hex
	// SHA-256 of the sealed archive; updated_at is its creation time.
	stepExportPrefix = "export:"
	// stepExported, under each store's name, holds in erased_count how many
	// of the store's records the export holds.
	stepExported = "(export)"
	// roundSeparator joins a files step and the number of one of its
	// rounds (a folder moved aside and removed), e.g. "user_uploads#1".
	roundSeparator = "#"
)

// Ledger states.
const (
	stateStarted = "started"
	stateDone    = "done"
)

// maxReasonLength is the size of erasure_ledger.retained_reason.
const maxReasonLength = 255

// ledgerRow is one row of the erasure ledger.
type ledgerRow struct {
	Store, Step, State          string
	Erased, Retained, Remaining int64
	Reason                      string
	UpdatedAt                   time.Time
}

// done reports whether the row records a finished step.
func (r ledgerRow) done() bool { return r.State == stateDone }

// tally returns the row's counts.
func (r ledgerRow) tally() tally {
	return tally{Erased: r.Erased, Retained: r.Retained, Remaining: r.Remaining, Reasons: splitReasons(r.Reason)}
}

// ledgerRows are a request's rows by store and step.
type ledgerRows map[[2]string]ledgerRow

// get returns the row of store and step.
func (rs ledgerRows) get(store, step string) (ledgerRow, bool) {
	r, ok := rs[[2]string{store, step}]
	return r, ok
}

// done reports whether store and step are recorded as done.
func (rs ledgerRows) done(store, step string) bool {
	r, ok := rs.get(store, step)
	return ok && r.done()
}

// export returns the export's row, if the request made one.
func (rs ledgerRows) export() (ledgerRow, bool) {
	for k, r := range rs {
		if k[0] == requestStore && strings.HasPrefix(k[1], stepExportPrefix) && r.done() {
			return r, true
		}
	}
	return ledgerRow{}, false
}

// ledger reads and writes one request's rows.
type ledger struct {
	db      *sql.DB
	engine  schema.Engine
	request string
	now     func() time.Time
}

// ledgerColumns are the columns ledger reads, in ledgerRow order.
const ledgerColumns = "store, step, state, erased_count, retained_count, remaining_count, COALESCE(retained_reason, ''), updated_at"

// scanRow reads a row of ledgerColumns.
func scanRow(s interface{ Scan(...any) error }) (ledgerRow, error) {
	var r ledgerRow
	err := s.Scan(&r.Store, &r.Step, &r.State, &r.Erased, &r.Retained, &r.Remaining, &r.Reason, &r.UpdatedAt)
	r.UpdatedAt = r.UpdatedAt.UTC()
	return r, err
}

// load reads all of the request's rows.
func (l *ledger) load(ctx context.Context) (ledgerRows, error) {
	rows, err := l.db.QueryContext(ctx, rebind(l.engine, "SELECT "+ledgerColumns+" FROM erasure_ledger WHERE request = ?"), l.request)
	if err != nil {
		return nil, stepErr("ledger", "load", "reading the erasure ledger", err)
	}
	defer rows.Close()
	out := ledgerRows{}
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, stepErr("ledger", "load", "reading the erasure ledger", err)
		}
		out[[2]string{r.Store, r.Step}] = r
	}
	if err := rows.Err(); err != nil {
		return nil, stepErr("ledger", "load", "reading the erasure ledger", err)
	}
	return out, nil
}

// get reads one row; ok is false when there is none.
func (l *ledger) get(ctx context.Context, q querier, store, step string) (ledgerRow, bool, error) {
	r, err := scanRow(q.QueryRowContext(ctx, rebind(l.engine, "SELECT "+ledgerColumns+
		" FROM erasure_ledger WHERE request = ? AND store = ? AND step = ?"), l.request, store, step))
	if errors.Is(err, sql.ErrNoRows) {
		return ledgerRow{}, false, nil
	}
	if err != nil {
		return ledgerRow{}, false, stepErr(store, step, "reading the erasure ledger", err)
	}
	return r, true, nil
}

// insert adds a row in state with t's counts unless the request already has
// a row for store and step, and reports whether it added one. at is its
// updated_at; zero means now.
func (l *ledger) insert(ctx context.Context, q querier, store, step, state string, t tally, at time.Time) (bool, error) {
	if at.IsZero() {
		at = l.now()
	}
	stmt := "INSERT INTO erasure_ledger (request, store, step, state, erased_count, retained_count, remaining_count, retained_reason, updated_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
	if l.engine == schema.Postgres {
		stmt += "ON CONFLICT (request, store, step) DO NOTHING"
	} else {
		stmt += "ON DUPLICATE KEY UPDATE id = id"
	}
	res, err := q.ExecContext(ctx, rebind(l.engine, stmt), l.request, store, step, state,
		t.Erased, t.Retained, t.Remaining, nullable(truncateReason(t.reason())), at.UTC())
	if err != nil {
		return false, stepErr(store, step, "writing the erasure ledger", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, stepErr(store, step, "writing the erasure ledger", err)
	}
	return n > 0, nil
}

// claim makes sure the row of store and step exists (state started) and
// locks it for the rest of tx, so that two runs of one request never run a
// step at once, and returns it.
func (l *ledger) claim(ctx context.Context, tx *sql.Tx, store, step string) (ledgerRow, error) {
	if _, err := l.insert(ctx, tx, store, step, stateStarted, tally{}, time.Time{}); err != nil {
		return ledgerRow{}, err
	}
	r, err := scanRow(tx.QueryRowContext(ctx, rebind(l.engine, "SELECT "+ledgerColumns+
		" FROM erasure_ledger WHERE request = ? AND store = ? AND step = ? FOR UPDATE"), l.request, store, step))
	if err != nil {
		return ledgerRow{}, stepErr(store, step, "locking the erasure ledger row", err)
	}
	return r, nil
}

// set writes state and t's counts into the row of store and step.
func (l *ledger) set(ctx context.Context, q querier, store, step, state string, t tally) error {
	_, err := q.ExecContext(ctx, rebind(l.engine, "UPDATE erasure_ledger SET state = ?, erased_count = ?, retained_count = ?, "+
		"remaining_count = ?, retained_reason = ?, updated_at = ? WHERE request = ? AND store = ? AND step = ?"),
		state, t.Erased, t.Retained, t.Remaining, nullable(truncateReason(t.reason())), l.now().UTC(), l.request, store, step)
	return stepErr(store, step, "writing the erasure ledger", err)
}

// record writes a finished step in one statement: inserted as done, or an
// existing row set to done with t's counts.
func (l *ledger) record(ctx context.Context, q querier, store, step string, t tally) error {
	added, err := l.insert(ctx, q, store, step, stateDone, t, time.Time{})
	if err != nil || added {
		return err
	}
	return l.set(ctx, q, store, step, stateDone, t)
}

// setRemaining records what a verification found left of a step.
func (l *ledger) setRemaining(ctx context.Context, store, step string, remaining int64) error {
	_, err := l.db.ExecContext(ctx, rebind(l.engine, "UPDATE erasure_ledger SET remaining_count = ?, updated_at = ? "+
		"WHERE request = ? AND store = ? AND step = ?"), remaining, l.now().UTC(), l.request, store, step)
	return stepErr(store, step, "writing the erasure ledger", err)
}

// truncateReason fits a reason into erasure_ledger.retained_reason.
func truncateReason(s string) string {
	if len(s) <= maxReasonLength {
		return s
	}
	s = s[:maxReasonLength]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// nullable returns nil for "", so that an empty reason is stored as NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
