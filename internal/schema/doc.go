// Package schema holds the reference InboxChat database schema as embedded,
// ordered, versioned SQL migrations for PostgreSQL and for MySQL/MariaDB, and
// applies them.
//
// Migrations live in migrations/<engine>/NNNN_<name>.sql. Versions are the
// numeric prefixes; they are applied in ascending order and recorded, with a
// SHA-256 checksum of the file, in the schema_migrations table. [Apply] takes
// an advisory lock (pg_advisory_lock on PostgreSQL, GET_LOCK on MySQL), so
// concurrent callers serialise, and applying again is a no-op. A migration
// whose file changed after it was applied is reported, never re-run.
//
// PostgreSQL runs each migration and its schema_migrations row in one
// transaction. MySQL commits every DDL statement implicitly, so MySQL
// migrations must be written to be re-runnable (CREATE TABLE IF NOT EXISTS
// with inline indexes and constraints): a migration interrupted half-way is
// simply run again.
//
// Conventions of the reference schema, shared by both engines:
//   - ids are 64-bit integers from an identity / AUTO_INCREMENT column;
//   - columns ending in _enc hold AES-256-GCM envelopes from the tenant keyring
//     (key id, nonce, ciphertext, tag), never plaintext;
//   - columns ending in _bidx hold a 32-byte HMAC-SHA256 blind index of the
//     normalised plaintext, used for equality lookups;
//   - times are UTC (timestamptz on PostgreSQL, DATETIME(6) holding UTC on MySQL);
//   - foreign keys have no ON DELETE CASCADE: the data map decides what is
//     erased and in which order, and a forgotten child row makes the parent's
//     delete fail loudly instead of vanishing unreported.
package schema
