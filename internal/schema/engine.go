package schema

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" database/sql driver
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Engine is a database engine the reference schema supports. The values match
// the Tenant API's spec.stores.database engine field.
type Engine string

const (
	// Postgres is PostgreSQL, reached through pgx's database/sql driver.
	Postgres Engine = "postgres"
	// MySQL is MySQL or MariaDB, reached through go-sql-driver/mysql.
	MySQL Engine = "mysql"
)

// ParseEngine returns the Engine named s, or an error naming the engines
// that exist.
func ParseEngine(s string) (Engine, error) {
	switch e := Engine(s); e {
	case Postgres, MySQL:
		return e, nil
	}
	return "", fmt.Errorf("unknown database engine %q: want %q or %q", s, Postgres, MySQL)
}

// DriverName returns the database/sql driver name for e ("pgx" or "mysql"),
// or "" for an unknown engine.
func (e Engine) DriverName() string {
	switch e {
	case Postgres:
		return "pgx"
	case MySQL:
		return "mysql"
	}
	return ""
}

// Open opens a database/sql handle for engine with dsn: a PostgreSQL URL or
// keyword/value string, or a go-sql-driver/mysql DSN (which should carry
// parseTime=true). Like sql.Open it does not connect.
func Open(engine Engine, dsn string) (*sql.DB, error) {
	driver := engine.DriverName()
	if driver == "" {
		return nil, fmt.Errorf("unknown database engine %q", engine)
	}
	return sql.Open(driver, dsn)
}

// Rebind turns the ? placeholders of q into $1, $2, ... for PostgreSQL and
// leaves q as it is for MySQL. q must contain no ? other than placeholders
// (no ? in literals or identifiers).
func (e Engine) Rebind(q string) string {
	if e != Postgres {
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
