package storetest

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQLEnv names the environment variable that overrides the MariaDB/MySQL
// admin DSN (go-sql-driver form, e.g. "root@tcp(127.0.0.1:3306)/"). The user
// must be allowed to create databases.
const MySQLEnv = "INBOXCHAT_TEST_MYSQL"

// defaultMySQLDSN is the local MariaDB: root without a password.
const defaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"

// MySQL creates an empty MariaDB/MySQL database (utf8mb4, binary collation)
// for the test and returns its DSN in go-sql-driver form with parseTime=true
// and multiStatements=false; times are read and written as UTC and the
// session time zone is UTC. The database is dropped in t.Cleanup.
func MySQL(t testing.TB) string {
	t.Helper()
	adminDSN := defaultMySQLDSN
	if env := os.Getenv(MySQLEnv); env != "" {
		adminDSN = env
	}
	cfg, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		t.Fatalf("storetest: parsing %s admin DSN: %v", mysqlService.name, err)
	}
	cfg.DBName = ""
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("storetest: %s admin DSN: %v", mysqlService.name, err)
	}
	admin := sql.OpenDB(connector)
	admin.SetMaxOpenConns(1)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = admin.PingContext(ctx)
	cancel()
	if err != nil {
		_ = admin.Close()
		failUnreachable(t, mysqlService, cfg.Addr, err)
	}

	name := uniqueName()
	ctx, cancel = context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		_ = admin.Close()
		t.Fatalf("storetest: creating %s database %s: %v", mysqlService.name, name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("storetest: dropping %s database %s: %v", mysqlService.name, name, err)
		}
	})

	db := cfg.Clone()
	db.DBName = name
	db.ParseTime = true
	db.MultiStatements = false
	db.Loc = time.UTC
	if db.Params == nil {
		db.Params = map[string]string{}
	}
	db.Params["time_zone"] = "'+00:00'"
	return db.FormatDSN()
}
