// Package policynotify is the engine of the notify worker: it e-mails every
// user of a tenant's app once about a published privacy-policy version and
// keeps a ledger that proves it.
//
// # Audience
//
// Every user whose account is not deleted (users.deleted_at IS NULL) is a
// recipient, whatever users.notify_email says. notify_email is the user's
// choice about optional account-activity e-mail ("Notify me"); a notice that
// the privacy policy changed is not that kind of e-mail but the information
// GDPR Articles 12 to 14 require the controller to give every data subject
// about how their data is processed, and the design promises it to "every
// user". A user who opted out of activity e-mail therefore still gets exactly
// one policy notice per version. Soft-deleted users get none. Users are
// read in pages ordered by id (keyset pagination), never all at once; users
// who sign up while a run is under way are mailed too when the run reaches
// their id.
//
// # Exactly once
//
// The ledger is the policy_notifications table, unique per (version,
// user_id). For each user the engine first claims the pair by inserting a
// row in state "intent" (the insert does nothing when the row exists, so two
// workers, or a worker and its restart, never both claim a user), then sends
// one message addressed to that user alone, then records the outcome: "sent",
// or "failed" with an error code (the SMTP reply code and enhanced status
// code, for example "550 5.1.1", or one of the ErrorCode constants).
//
// A run that is cancelled (the worker got SIGTERM) stops taking users, lets
// the sends under way finish (at most Config.DrainTimeout) and records their
// outcomes; a user whose retry was pending when the run was cancelled had
// not been sent anything, so its claim is withdrawn and the next run mails
// it. Nobody is skipped and nobody is mailed twice.
//
// Crash window: a worker killed without warning (SIGKILL, node loss) between
// claiming a user and recording the outcome leaves an "intent" row, and
// nobody can tell whether the SMTP server accepted that message. The engine
// never resends such a user: the next run marks the row failed with
// ErrorCodeUnknownOutcome, and Progress counts it in UnknownOutcome. The window is a user's attempts: one SMTP transaction, or
// several with backoff in between after temporary failures. A hard kill
// therefore leaves at most one unknown outcome per worker goroutine
// (Config.Concurrency). The same rule applies when the connection breaks
// after the message data was sent but before the server answered: that
// user is not retried and is recorded as an unknown outcome.
//
// # Failures
//
// SMTP 4xx replies (and network failures before the message data was sent)
// are retried for the same user with exponential backoff, at most
// Config.MaxAttempts times; every attempt waits for the rate limiter. A 5xx
// refusal of one address (or 4xx replies until the attempts run out) counts
// that user failed and the run continues.
//
// Failures that are not about a recipient stop the run with an error and
// leave nobody failed by them, so that the run can simply be repeated once
// the cause is fixed: the server cannot be reached or rejects the
// credentials, the certificate or the sender (the user's claim is
// withdrawn); the keyring lacks the key an address was sealed with;
// Config.MaxConsecutiveFailures users in a row who could not be mailed for a
// reason that is not about their address or mailbox (RFC 3463 status X.1.X
// and X.2.X, for example 550 5.1.1), such as a relay that refuses the
// message itself or addresses that do not decrypt (another tenant's
// keyring). Then the users of that streak who were certainly not mailed are
// taken out of the ledger again.
//
// # Personal data
//
// E-mail addresses are decrypted one user at a time from users.email_enc
// with the tenant keyring (associated data "users.email:<id>", the
// convention of internal/crypto) and live only for that user's send. They
// appear in no error, log record or Progress; logs name users by id.
package policynotify
