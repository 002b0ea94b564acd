// Package storetest gives tests their own databases on the real PostgreSQL,
// MariaDB/MySQL and Redis servers that run on development and CI machines.
//
// Every helper creates something private to the calling test and removes it
// in t.Cleanup; none of them touches data it did not create:
//
//   - [Postgres] creates a database named ict_<random> and drops it (WITH FORCE).
//   - [MySQL] creates a database named ict_<random> and drops it.
//   - [Redis] leases one whole logical database (SELECT index) for the test and
//     flushes only that database; see [Redis] for how the lease is kept safe.
//
// Admin connections default to the local services and can be overridden with
// the environment variables [PostgresEnv], [MySQLEnv] and [RedisEnv]. When a
// service cannot be reached the test fails with a message that names the
// service, its address and the command that starts it locally.
package storetest
