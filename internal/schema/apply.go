package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrationsTable is where Apply records applied versions.
const migrationsTable = "schema_migrations"

// createMigrationsTable creates migrationsTable for each engine.
var createMigrationsTable = map[Engine]string{
	Postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    bigint       NOT NULL PRIMARY KEY,
    name       varchar(255) NOT NULL,
    checksum   char(64)     NOT NULL,
    applied_at timestamptz  NOT NULL DEFAULT now()
)`,
	MySQL: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT       NOT NULL PRIMARY KEY,
    name       VARCHAR(255) NOT NULL,
    checksum   CHAR(64)     NOT NULL,
    applied_at DATETIME(6)  NOT NULL DEFAULT (UTC_TIMESTAMP(6))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin`,
}

// recordMigration inserts one applied version, per engine placeholder style.
var recordMigration = map[Engine]string{
	Postgres: "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
	MySQL:    "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
}

// Apply brings db up to the newest embedded schema for engine and returns how
// many migrations it applied (0 when the schema was already current).
//
// It holds the engine's advisory lock for the whole run, so concurrent calls
// against the same database apply each migration once. Every applied
// migration is recorded in schema_migrations with its checksum; a recorded
// migration whose embedded file has since changed is an error, and versions
// recorded by a newer release are left alone.
func Apply(ctx context.Context, db *sql.DB, engine Engine) (applied int, err error) {
	migrations, err := Migrations(engine)
	if err != nil {
		return 0, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("connecting to the %s database: %w", engine, err)
	}
	defer conn.Close()

	unlock, err := lockMigrations(ctx, conn, engine)
	if err != nil {
		return 0, err
	}
	defer func() {
		if uerr := unlock(); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()

	if _, err := conn.ExecContext(ctx, createMigrationsTable[engine]); err != nil {
		return 0, fmt.Errorf("creating %s: %w", migrationsTable, err)
	}
	done, err := appliedChecksums(ctx, conn)
	if err != nil {
		return 0, err
	}
	for _, m := range migrations {
		if sum, ok := done[m.Version]; ok {
			if sum != m.Checksum {
				return applied, fmt.Errorf("migration %04d_%s changed after it was applied (recorded checksum %s, embedded %s): "+
					"add a new migration instead of editing an applied one", m.Version, m.Name, sum, m.Checksum)
			}
			continue
		}
		if err := applyMigration(ctx, conn, engine, m); err != nil {
			return applied, err
		}
		applied++
	}
	return applied, nil
}

// appliedChecksums reads schema_migrations: version to checksum.
func appliedChecksums(ctx context.Context, conn *sql.Conn) (map[int64]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT version, checksum FROM "+migrationsTable)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", migrationsTable, err)
	}
	defer rows.Close()
	done := map[int64]string{}
	for rows.Next() {
		var (
			version int64
			sum     string
		)
		if err := rows.Scan(&version, &sum); err != nil {
			return nil, fmt.Errorf("reading %s: %w", migrationsTable, err)
		}
		done[version] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", migrationsTable, err)
	}
	return done, nil
}

// applyMigration runs m's statements and records it. On PostgreSQL both
// happen in one transaction; on MySQL, where DDL commits implicitly, the
// statements run one by one and the record is written last, so a failed
// migration is retried as a whole by the next Apply.
func applyMigration(ctx context.Context, conn *sql.Conn, engine Engine, m Migration) error {
	stmts, err := m.Statements()
	if err != nil {
		return err
	}
	type execer interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	}
	var (
		target execer = conn
		tx     *sql.Tx
	)
	if engine == Postgres {
		if tx, err = conn.BeginTx(ctx, nil); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		target = tx
	}
	for i, stmt := range stmts {
		if _, err := target.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migration %04d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
		}
	}
	if _, err := target.ExecContext(ctx, recordMigration[engine], m.Version, m.Name, m.Checksum); err != nil {
		return fmt.Errorf("recording migration %04d_%s: %w", m.Version, m.Name, err)
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %04d_%s: commit: %w", m.Version, m.Name, err)
		}
	}
	return nil
}
