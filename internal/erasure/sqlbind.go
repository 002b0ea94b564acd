package erasure

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rebind turns the ? placeholders of a static query into $1, $2, ... for
// PostgreSQL. The static queries of this package hold no other '?'.
func rebind(engine schema.Engine, q string) string { return engine.Rebind(q) }

// sqlBuilder builds one statement from literal SQL, identifiers that pass
// datamap.QuoteIdent and bind parameters. The first invalid identifier is
// kept as the builder's error.
type sqlBuilder struct {
	engine schema.Engine
	b      strings.Builder
	args   []any
	err    error
}

// newSQL starts a statement for engine.
func newSQL(engine schema.Engine) *sqlBuilder { return &sqlBuilder{engine: engine} }

// raw appends literal SQL written in this package.
func (q *sqlBuilder) raw(s string) *sqlBuilder {
	q.b.WriteString(s)
	return q
}

// ident appends a quoted identifier from the data map.
func (q *sqlBuilder) ident(name string) *sqlBuilder {
	quoted, err := datamap.QuoteIdent(q.engine, name)
	if err != nil {
		if q.err == nil {
			q.err = err
		}
		return q
	}
	q.b.WriteString(quoted)
	return q
}

// arg appends a bind parameter.
func (q *sqlBuilder) arg(v any) *sqlBuilder {
	q.args = append(q.args, v)
	if q.engine == schema.Postgres {
		q.b.WriteString("$" + strconv.Itoa(len(q.args)))
	} else {
		q.b.WriteByte('?')
	}
	return q
}

// list appends bind parameters separated by commas.
func (q *sqlBuilder) list(vs []any) *sqlBuilder {
	for i, v := range vs {
		if i > 0 {
			q.b.WriteString(", ")
		}
		q.arg(v)
	}
	return q
}

// build returns the statement and its arguments.
func (q *sqlBuilder) build() (string, []any, error) {
	if q.err != nil {
		return "", nil, q.err
	}
	return q.b.String(), q.args, nil
}

// idArgs turns subject ids into bind parameters. They are bound as text on
// both engines: PostgreSQL converts a text parameter to the column's type
// (and refuses one that does not fit), MySQL compares text with a text
// column exactly and converts it for an integer column, where the index is
// still used. An integer parameter would not do: PostgreSQL cannot send it
// for a text column, and MySQL would compare a text column with it as
// numbers ('42abc' = 42).
func idArgs(ids []string) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}
