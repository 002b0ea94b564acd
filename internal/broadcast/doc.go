// Package broadcast is the engine of the broadcast worker: it sends one
// Broadcast's message to every lead of its frozen audience through the
// rate-limited Messenger sender, at most once per lead, each message ending
// with a signed unsubscribe link, and records every outcome in the
// broadcast_deliveries ledger of the tenant database. It has no Kubernetes
// imports; the worker command calls New, Run, Counts and RetryFailed and
// patches the Broadcast status from the Progress they return.
//
// # Audience
//
// The first Run freezes the audience: in one transaction, keyset batches
// of INSERT ... SELECT write one pending delivery per lead of the Page that
// has opted_in_at, no unsubscribed_at, no unreachable_at, every tag of
// Tags and none of ExcludeTags, and an id no higher than the highest lead
// id when the freeze began. The audience never passes through the worker.
// Because the freeze commits as a whole, a later Run that finds any row of
// the broadcast knows the audience is complete and never freezes again;
// leads created later never join. The run then refreshes the ledger's
// planner statistics (ANALYZE), without which PostgreSQL reads a freshly
// filled table through the wrong index.
//
// Run then reads the pending deliveries in pages by lead id (keyset
// pagination). Per lead, checked again at send time: an unsubscribe since
// the freeze skips it (reason unsubscribed, re-checked once more after the
// claim, just before the send); unreachable_at skips it (unreachable); for
// RESPONSE and UPDATE, a last_inbound_at older than Window, or none, skips
// it (outside_window), while MESSAGE_TAG may be sent outside the window.
// Graph's own answers decide too: code 10 / 2018278 skips as
// outside_window, code 551 / 1545041 skips as unreachable and sets
// leads.unreachable_at.
//
// # Exactly once
//
// The ledger holds one row per broadcast and lead (a unique key). A lead
// gets a message only after its row was claimed, a compare-and-set from
// pending that succeeds once, by a run holding the broadcast's database
// lock; the outcome is written after the send. States (see states.go for
// how they fit the schema's intent/sent/failed/skipped):
//
//	pending  -> claimed                     before the send
//	claimed  -> sent | failed | skipped     after Graph answered
//	claimed  -> pending                     only when the message was
//	                                        certainly not sent (the run
//	                                        stopped first, or Graph refused
//	                                        the token)
//	claimed  -> failed unknown_outcome      when the outcome is unknown
//	failed   -> pending                     RetryFailed, except
//	                                        unknown_outcome
//
// Guarantee: no lead gets more than one message from a broadcast, and no
// lead of the audience is left out silently: when Run returns nil every
// row is sent, failed (with an error code) or skipped (with a reason).
//
// The crash window: a worker killed between a send and the write of its
// outcome leaves the row claimed. The next Run, holding the lock, marks
// such rows failed with ErrorCodeUnknownOutcome and never sends them
// again, nor does RetryFailed: the lead received the message or nothing,
// and the Send API offers no way to tell which (no idempotency key, and no
// lookup of a sent message that this project's client supports), so this
// engine prefers at most once to a possible duplicate. Progress counts these
// in Failed and UnknownOutcome. A hard kill leaves at most twice ClaimBatch,
// plus SendWorkers, plus the answers queued for the ledger writers (at most
// 64) in this state; only the sends in flight among them (about rate times
// latency) can have reached the lead. A send whose request was written but
// whose answer was lost (a time-out, a reset connection) is recorded the
// same way. A pause (ctx cancelled) is not a crash: sends in flight finish
// and are recorded, and claims not yet sent return to pending. See
// GUARANTEE.md for the full argument.
//
// # Errors and progress
//
// New and Run return errors with a Class (ClassOf): Invalid before anything
// is sent or frozen, InvalidToken when Graph refuses the Page token,
// Paused when more than MaxFailureRatio of a run's sends failed, Busy when
// another worker runs the broadcast. Errors, log records and Progress hold
// ids, counts and Graph error codes only: never a PSID, a name, a token or
// the access token.
package broadcast
