package broadcast

// The reference schema allows four states in broadcast_deliveries.state:
// intent, sent, failed and skipped. It has no state for "in the audience,
// not attempted yet", so this package writes that as an intent row without
// an error code, and a claimed row (the send may be under way) as an intent
// row whose error code is already ErrorCodeUnknownOutcome: the failure it
// will be recorded as if the worker dies before it learns the outcome.
//
//	meaning              state    error_code        skip_reason
//	pending              intent   NULL              NULL
//	claimed (in flight)  intent   unknown_outcome   NULL
//	sent                 sent     NULL              NULL (message_id set)
//	failed               failed   <code>            NULL
//	skipped              skipped  <code> or NULL    <reason>
//
// The conditions below and the statements of ledger.go are the only SQL
// that depends on this encoding; a schema with a pending state would change
// them and nothing else.
const (
	stateIntent  = "intent"
	stateSent    = "sent"
	stateFailed  = "failed"
	stateSkipped = "skipped"

	// wherePending selects pending rows of the alias d.
	wherePending = "d.state = 'intent' AND d.error_code IS NULL"
	// whereClaimed selects rows this package claimed and has not completed,
	// and claims that a restart already marked failed as unknown outcomes:
	// the worker that made the claim may still record what really happened.
	whereClaimed = "d.error_code = 'unknown_outcome' AND d.state IN ('intent', 'failed')"
)

// Skip reasons recorded in broadcast_deliveries.skip_reason.
const (
	// SkipUnsubscribed: the lead unsubscribed after the audience was frozen.
	SkipUnsubscribed = "unsubscribed"
	// SkipOutsideWindow: the lead's 24-hour window was closed for the
	// broadcast's messaging type, by the lead's last_inbound_at or by
	// Graph's answer (code 10, subcode 2018278 or 2018065).
	SkipOutsideWindow = "outside_window"
	// SkipUnreachable: the lead cannot receive messages from the Page
	// (Graph code 551 / subcode 1545041, or leads.unreachable_at set).
	SkipUnreachable = "unreachable"
)

// Error codes recorded in broadcast_deliveries.error_code besides Graph's
// own ("613", "10/2018278", "http_502", ...).
const (
	// ErrorCodeUnknownOutcome marks a delivery whose message may or may not
	// have reached the lead: the worker stopped between the send and the
	// ledger write, or the connection broke after the request was written.
	// Such a delivery is never sent again, not even by RetryFailed.
	ErrorCodeUnknownOutcome = "unknown_outcome"
	// ErrorCodeUndecryptable: the keyring could not open the lead's PSID or
	// name.
	ErrorCodeUndecryptable = "undecryptable"
	// ErrorCodeTemplate: the message template failed for this lead.
	ErrorCodeTemplate = "template"
	// ErrorCodeInvalidMessage: the rendered message breaks a Send API limit
	// (for example it is too long with this lead's name).
	ErrorCodeInvalidMessage = "invalid_message"
	// ErrorCodeTransport: the request failed without an HTTP answer and
	// without being written, and retries ran out.
	ErrorCodeTransport = "transport"
)

// maxErrorCodeLen is the width of broadcast_deliveries.error_code.
const maxErrorCodeLen = 64

// maxBroadcastLen is the width of broadcast_deliveries.broadcast.
const maxBroadcastLen = 253
