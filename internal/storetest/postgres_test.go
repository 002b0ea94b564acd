package storetest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

func TestPostgresCreatesAndDropsADatabase(t *testing.T) {
	var dsn string
	t.Run("use", func(t *testing.T) {
		dsn = Postgres(t)
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var name string
		if err := db.QueryRowContext(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatalf("connecting to the test database: %v", err)
		}
		if !strings.HasPrefix(name, namePrefix) {
			t.Fatalf("connected to %q, want a database named %s<random>", name, namePrefix)
		}
		if _, err := db.Exec("CREATE TABLE t (id int)"); err != nil {
			t.Fatalf("the test database is not writable: %v", err)
		}
	})

	admin, _ := openPostgresAdmin(t)
	defer admin.Close()
	name := dsn[strings.LastIndex(dsn, "/")+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	var exists bool
	if err := admin.QueryRow("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after the test that created it finished", name)
	}
}

func TestPostgresDatabasesAreDistinct(t *testing.T) {
	if a, b := Postgres(t), Postgres(t); a == b {
		t.Errorf("two calls returned the same DSN %q", a)
	}
}

func TestPostgresDSNWithDatabase(t *testing.T) {
	for _, tc := range []struct{ admin, want string }{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/ict_x?sslmode=disable"},
		{"postgresql://u:p@h/", "postgresql://u:p@h/ict_x"},
		{"host=127.0.0.1 user=root dbname=postgres", "host=127.0.0.1 user=root dbname=postgres dbname=ict_x"},
	} {
		got, err := postgresDSNWithDatabase(tc.admin, "ict_x")
		if err != nil || got != tc.want {
			t.Errorf("postgresDSNWithDatabase(%q) = %q, %v; want %q", tc.admin, got, err, tc.want)
		}
	}
}
