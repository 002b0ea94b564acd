package schema

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/inboxchat/inboxchat-operator/internal/storetest"
)

// engines lists the engines every schema test runs against.
var engines = []Engine{Postgres, MySQL}

// freshDB returns an open handle on a new, empty database of engine.
func freshDB(t *testing.T, engine Engine) *sql.DB {
	t.Helper()
	var dsn string
	switch engine {
	case Postgres:
		dsn = storetest.Postgres(t)
	case MySQL:
		dsn = storetest.MySQL(t)
	}
	db, err := Open(engine, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// appliedDB returns a new database of engine with the reference schema.
func appliedDB(t *testing.T, engine Engine) *sql.DB {
	t.Helper()
	db := freshDB(t, engine)
	if _, err := Apply(context.Background(), db, engine); err != nil {
		t.Fatalf("Apply on a fresh %s database: %v", engine, err)
	}
	return db
}

// rebind turns ? placeholders into $1, $2, ... for PostgreSQL.
func rebind(engine Engine, q string) string {
	if engine != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// violation names the kind of constraint err reports: "unique", "check",
// "foreign key", or "" when err is not a constraint violation.
func violation(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505":
			return "unique"
		case "23514":
			return "check"
		case "23503":
			return "foreign key"
		}
		return ""
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1062:
			return "unique"
		case 3819, 4025: // MySQL, MariaDB
			return "check"
		case 1451, 1452:
			return "foreign key"
		}
	}
	return ""
}
