package storetest

import (
	"os"
	"testing"
)

// service describes a backing service well enough to tell a developer how to
// get it running.
type service struct {
	name  string // human name, e.g. "PostgreSQL"
	env   string // variable that overrides the admin DSN
	start string // command that starts the service on a development machine
}

var (
	postgresService = service{
		name:  "PostgreSQL",
		env:   PostgresEnv,
		start: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
	}
	mysqlService = service{
		name:  "MariaDB",
		env:   MySQLEnv,
		start: "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
	}
	redisService = service{
		name:  "Redis",
		env:   RedisEnv,
		start: `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`,
	}
)

// failUnreachable stops the test because svc at addr could not be used.
func failUnreachable(t testing.TB, svc service, addr string, err error) {
	t.Helper()
	source := "the default admin connection"
	if os.Getenv(svc.env) != "" {
		source = svc.env
	}
	t.Fatalf("storetest: %s at %s is unreachable (%s): %v\n"+
		"start it with:\n\t%s\n"+
		"or set %s to the admin DSN of a reachable server",
		svc.name, addr, source, err, svc.start, svc.env)
}
