package storetest

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestMySQLCreatesAndDropsADatabase(t *testing.T) {
	var cfg *mysql.Config
	t.Run("use", func(t *testing.T) {
		dsn := MySQL(t)
		var err error
		cfg, err = mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatalf("MySQL returned an unparsable DSN %q: %v", dsn, err)
		}
		if !cfg.ParseTime || cfg.MultiStatements {
			t.Errorf("DSN %q: parseTime=%v multiStatements=%v, want true and false", dsn, cfg.ParseTime, cfg.MultiStatements)
		}
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("CREATE TABLE t (id int, at datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))"); err != nil {
			t.Fatalf("the test database is not writable: %v", err)
		}
		if _, err := db.Exec("INSERT INTO t (id) VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		var at time.Time
		if err := db.QueryRow("SELECT at FROM t").Scan(&at); err != nil {
			t.Fatalf("reading a datetime (parseTime): %v", err)
		}
		if d := time.Since(at); d < -time.Minute || d > time.Minute {
			t.Errorf("CURRENT_TIMESTAMP read back as %s, %s away from now: the session is not in UTC", at, d)
		}
	})

	if !strings.HasPrefix(cfg.DBName, namePrefix) {
		t.Fatalf("database %q is not named %s<random>", cfg.DBName, namePrefix)
	}
	admin, err := sql.Open("mysql", defaultMySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", cfg.DBName).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after the test that created it finished", cfg.DBName)
	}
}
