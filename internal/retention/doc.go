// Package retention is the engine of the prune worker, which a CronJob runs
// per tenant: it deletes what the tenant may no longer keep and reports how
// much it deleted. Every step is idempotent: a second run right after the
// first deletes nothing.
//
// # Security logs
//
// Rows of security_log whose created_at is before now - Config.SecurityLogs
// are deleted in batches of Config.BatchSize, each in its own short
// transaction, chosen through the index on created_at (no full scan, no
// lock held across batches). A row exactly at the cutoff is kept.
//
// # Exports
//
// Exports are the regular files anywhere under <FilesRoot>/exports/. One
// is expired when its modification time is more than Config.Exports ago:
// the export is written once and never modified, and the file system's
// clock is the only one that a file name or a manifest cannot contradict, so
// no name format or manifest has to be trusted or parsed. Writers should set
// ErasureRequest.status.export.expiresAt to the write time plus the same
// period. A file whose modification time lies in the future (clock skew, a
// touch) gets its time set to now, so that it expires one period later
// instead of never. The walk opens the files root with os.Root and never
// leaves it, never follows a symbolic link (links are left alone, as are
// sockets and devices), refuses an exports folder that is itself a link, and
// removes a sub-folder only when it deleted its last file.
//
// # Sessions
//
// A session (sess:<id>) belongs to the user whose index set
// (user_sessions:<userID>) lists it: the route of the data map
// (docs/data-map.md) that erasure follows too. Index sets are found with
// SCAN (never KEYS), Config.BatchSize keys per call, filtered to sets. For
// every index set whose user no longer exists or is deleted
// (users.deleted_at set), the sessions it lists and then the set itself are
// deleted. From the sets of live users, members whose session key no longer
// exists (expired) are removed. A session key that no index set lists has no
// owner the operator can know without the app's session encoding; it is left
// to its TTL (Tenant spec.sessions.ttl). Assumptions about the app: it
// commits a user before creating their sessions, and writes a session key
// before adding it to the index set. Redis 6.0 or later is required (SCAN
// with TYPE). As a guard against a wrong database, no session is treated as
// orphaned while the users table is empty.
package retention
