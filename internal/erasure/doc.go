// Package erasure is the engine of the erase worker: it exports, erases and
// verifies everything a tenant's stores hold about one data subject (a User
// or a Lead), and offboards a whole tenant. It has no Kubernetes imports.
//
// # One subject
//
// [Engine.Run] carries out one [Request]:
//
//  1. Resolve. The subject's identifier (internal id, e-mail or PSID) is
//     resolved to internal ids on the subject kind's root table, e-mail and
//     PSID through their blind indexes. A subject that is not found
//     completes with zero erased.
//  2. Export, when the mode asks for it: every record the data map routes to
//     the subject, in every store (rows with their encrypted fields
//     decrypted, Redis keys with their values, files with their contents),
//     with a manifest, as one JSON document sealed with the tenant keyring
//     and written to exports/<request uid>.json.enc on the files volume.
//  3. Erase, step by step in the order of the data map's plan: children
//     before parents, the root row last. Each step is verified right after
//     it runs, while the parents it is routed through still exist.
//  4. Verify: every step is queried again; Remaining must be 0 for all that
//     is not retained. Rows kept on purpose (security-log rows inside their
//     retention period, everything of a subject under a legal hold) are
//     counted as retained, with the reason.
//
// # Resumable and idempotent
//
// Every step is recorded in the tenant database's erasure_ledger (one row
// per request uid, store and step). SQL steps write their row in the same
// transaction as their DELETE. Redis steps delete through a script that
// counts what it deleted in the same atomic call; file steps first move the
// subject's folder aside (one atomic rename) and record how much it held
// before removing it. A worker killed at any point and started again skips
// what is done, finishes the rest and reports the true totals; a request
// that completed returns its recorded result again and changes nothing.
// [Options.AfterStep] lets tests stop a run after any step.
//
// # No personal data
//
// Errors and log records name stores, collections and steps, never values:
// driver errors are reduced to their codes, file errors lose their paths.
// Results and [Result.ReceiptPayload] carry counts, reasons and the keyed
// subject fingerprint only.
//
// # Limits
//
//   - One worker runs a request at a time (the erase Job has one pod); SQL
//     steps are serialised by their ledger row, Redis and file steps are not.
//   - Redis is a single server (SCAN and the counting script see one node).
//   - A key reached through a set's members (sess:<id> through
//     user_sessions:<userID>) that the app adds after its step ran and
//     before the set's step deletes the set is no longer reachable by any
//     route; it is left to its TTL.
//   - Columns of the "hash" strategy cannot be told apart from unhashed ones
//     by a query; their step is verified through its "null" columns only.
//   - A subject's export is built, sealed and written in memory, as one
//     document (a tenant export is streamed in parts, see below).
//
// # Offboarding
//
// [EraseTenant] deletes everything the data map names (all rows of its
// tables, children first; all keys of its Redis patterns, found with SCAN;
// all folders of its file patterns, and the exports) and verifies by
// re-query. While a legal hold is in force it erases nothing and returns a
// [*LegalHoldsError], unless an export hands the data back first (below).
//
// [Engine.ExportTenant] first writes an encrypted export of all of it to
// exports/offboarding-<uid>/ on the files volume: records are streamed
// collection by collection into part files of bounded size, each sealed
// with the keyring under its own name, and a manifest.json (counts, part
// digests, no personal data) is written last. Options.KeepExport then makes
// EraseTenant keep that folder, counted as retained, and refuse to erase
// anything unless the export is complete. docs/offboarding.md describes the
// format.
package erasure
