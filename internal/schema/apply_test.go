package schema

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// referenceTables are the tables migration 0001 creates on every engine.
var referenceTables = []string{
	"users", "leads", "lead_tags", "messages", "security_log",
	"broadcast_deliveries", "policy_notifications", "erasure_ledger",
	"legal_holds", "uploads",
}

func TestApplyCreatesTheReferenceSchemaOnce(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			migrations, err := Migrations(engine)
			if err != nil {
				t.Fatal(err)
			}
			db := freshDB(t, engine)

			n, err := Apply(ctx, db, engine)
			if err != nil {
				t.Fatalf("first Apply: %v", err)
			}
			if n != len(migrations) {
				t.Errorf("first Apply applied %d migrations, want %d", n, len(migrations))
			}
			n, err = Apply(ctx, db, engine)
			if err != nil {
				t.Fatalf("second Apply: %v", err)
			}
			if n != 0 {
				t.Errorf("second Apply applied %d migrations, want 0", n)
			}

			for _, table := range referenceTables {
				var count int
				if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&count); err != nil {
					t.Errorf("table %s: %v", table, err)
				}
			}
			var recorded int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&recorded); err != nil {
				t.Fatal(err)
			}
			if recorded != len(migrations) {
				t.Errorf("schema_migrations holds %d rows, want %d", recorded, len(migrations))
			}
		})
	}
}

func TestConcurrentApplyRunsEachMigrationOnce(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			migrations, err := Migrations(engine)
			if err != nil {
				t.Fatal(err)
			}
			db := freshDB(t, engine)
			const callers = 4
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				total int
				errs  []error
			)
			for range callers {
				wg.Go(func() {
					n, err := Apply(context.Background(), db, engine)
					mu.Lock()
					defer mu.Unlock()
					total += n
					if err != nil {
						errs = append(errs, err)
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				t.Errorf("concurrent Apply: %v", err)
			}
			if total != len(migrations) {
				t.Errorf("%d concurrent Apply calls applied %d migrations in total, want %d", callers, total, len(migrations))
			}
		})
	}
}

func TestApplyRefusesAnEditedMigration(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			db := appliedDB(t, engine)
			if _, err := db.ExecContext(ctx, "UPDATE schema_migrations SET checksum = '"+strings.Repeat("0", 64)+"' WHERE version = 1"); err != nil {
				t.Fatal(err)
			}
			_, err := Apply(ctx, db, engine)
			if err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
				t.Fatalf("Apply after a checksum change: err = %v, want it to report the changed migration", err)
			}
		})
	}
}

func TestApplyLeavesNewerVersionsAlone(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			db := appliedDB(t, engine)
			q := rebind(engine, "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
			if _, err := db.ExecContext(ctx, q, 9999, "from_a_newer_release", strings.Repeat("f", 64)); err != nil {
				t.Fatal(err)
			}
			if n, err := Apply(ctx, db, engine); err != nil || n != 0 {
				t.Fatalf("Apply with a newer recorded version = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

func TestApplyReleasesTheLock(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			db := appliedDB(t, engine)
			db.SetMaxOpenConns(1) // the next Apply must reuse the same session
			for i := range 3 {
				if _, err := Apply(ctx, db, engine); err != nil {
					t.Fatalf("Apply #%d on one pooled connection: %v", i+2, err)
				}
			}
			if engine == Postgres {
				var held int
				if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(&held); err != nil {
					t.Fatal(err)
				}
				if held != 0 {
					t.Errorf("%d advisory locks still held after Apply returned", held)
				}
			}
		})
	}
}
