package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// PostgresEnv names the environment variable that overrides the PostgreSQL
// admin DSN (URL or keyword/value form). The role must be allowed to create
// databases.
const PostgresEnv = "INBOXCHAT_TEST_POSTGRES"

// defaultPostgresDSNs are tried in order when PostgresEnv is unset: the local
// cluster trusts both the postgres and the root role.
var defaultPostgresDSNs = []string{
	"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
	"postgres://root@127.0.0.1:5432/postgres?sslmode=disable",
}

// setupTimeout bounds every administrative statement storetest runs.
const setupTimeout = 30 * time.Second

// Postgres creates an empty PostgreSQL database for the test and returns a
// DSN (URL form when the admin DSN is a URL) that connects to it with the
// admin role. Open it with the "pgx" driver of database/sql or with pgx
// directly. The database is dropped in t.Cleanup, terminating connections the
// test left open.
func Postgres(t testing.TB) string {
	t.Helper()
	admin, adminDSN := openPostgresAdmin(t)
	name := uniqueName()

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		t.Fatalf("storetest: creating PostgreSQL database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: dropping PostgreSQL database %s: %v", name, err)
		}
	})

	dsn, err := postgresDSNWithDatabase(adminDSN, name)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return dsn
}

// openPostgresAdmin connects to the first reachable admin DSN.
func openPostgresAdmin(t testing.TB) (*sql.DB, string) {
	t.Helper()
	candidates := defaultPostgresDSNs
	if env := os.Getenv(PostgresEnv); env != "" {
		candidates = []string{env}
	}
	var errs []error
	for _, dsn := range candidates {
		db, err := sql.Open("pgx", dsn)
		if err == nil {
			db.SetMaxOpenConns(1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = db.PingContext(ctx)
			cancel()
			if err == nil {
				return db, dsn
			}
			_ = db.Close()
		}
		errs = append(errs, err)
	}
	failUnreachable(t, postgresService, postgresAddr(candidates[0]), errors.Join(errs...))
	return nil, ""
}

// postgresAddr returns host:port of dsn for messages.
func postgresAddr(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// postgresDSNWithDatabase returns adminDSN pointed at database name.
func postgresDSNWithDatabase(adminDSN, name string) (string, error) {
	if strings.HasPrefix(adminDSN, "postgres://") || strings.HasPrefix(adminDSN, "postgresql://") {
		u, err := url.Parse(adminDSN)
		if err != nil {
			return "", fmt.Errorf("parsing PostgreSQL admin DSN: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	return adminDSN + " dbname=" + name, nil
}
