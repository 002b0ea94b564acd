package broadcast

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

// Runner runs one Broadcast against one tenant database: it freezes the
// audience, sends at most one message per lead through the rate-limited
// Sender, and records every outcome in the delivery ledger. Runs of the
// same broadcast exclude each other through a database lock, so a Runner
// may be created again after a restart (that is the point) but two workers
// never run one broadcast at once.
type Runner struct {
	cfg      Config
	tmpl     *messageTemplate
	filter   audienceFilter
	ledger   *deliveryLedger
	audience *audienceReader
	sender   *messenger.Sender
	running  atomic.Bool

	hooks testHooks
}

// testHooks let tests stop a run at the points a crash can hit.
type testHooks struct {
	// afterFreeze runs once the audience is in the ledger.
	afterFreeze func()
	// afterSend runs when the Sender reports the outcome of a send, before
	// the ledger records it. Returning true simulates a crash there: the
	// run stops and writes nothing more to the ledger, as if the process
	// had been killed.
	afterSend func(leadID int64, sent bool) bool
}

// errSimulatedCrash is what Run returns after a testHooks.afterSend crash.
var errSimulatedCrash = errors.New("broadcast: simulated crash")

// New checks cfg and returns a Runner. An invalid configuration is an
// Invalid *Error listing every problem; nothing touches the database or
// the Send API before that check passes.
func New(cfg Config) (*Runner, error) {
	cfg = cfg.withDefaults()
	tmpl, problems := cfg.check()
	if err := invalid(problems); err != nil {
		return nil, err
	}
	sender := cfg.Sender
	if sender == nil {
		var err error
		sender, err = messenger.NewSender(cfg.Client, messenger.SenderConfig{MessagesPerSecond: cfg.Rate, Workers: cfg.SendWorkers})
		if err != nil {
			return nil, invalid([]*ValidationError{{Field: "Config.Client", Reason: "SenderInvalid", Message: err.Error()}})
		}
	}
	ledger := newDeliveryLedger(cfg.DB, cfg.Engine, cfg.Broadcast, cfg.LedgerTimeout)
	return &Runner{
		cfg:      cfg,
		tmpl:     tmpl,
		filter:   audienceFilter{pageID: cfg.PageID, tags: cfg.Tags, excludeTags: cfg.ExcludeTags},
		ledger:   ledger,
		audience: newAudienceReader(ledger),
		sender:   sender,
	}, nil
}

// Counts recomputes the broadcast's progress from the ledger, for example
// after the worker restarted. Claims of a worker that died are counted as
// Pending until the next Run turns them into unknown outcomes. Rate and
// LastError are zero.
func (r *Runner) Counts(ctx context.Context) (Progress, error) {
	return r.ledger.counts(ctx)
}

// RetryFailed returns the broadcast's failed deliveries to pending, so
// that the next Run sends them again, and returns how many. Deliveries
// with ErrorCodeUnknownOutcome are left alone: their lead may already have
// the message. It takes the run lock, so it fails with a Busy error while
// a run is under way.
func (r *Runner) RetryFailed(ctx context.Context) (int64, error) {
	lock, err := lockRun(ctx, r.cfg.DB, r.cfg.Engine, r.cfg.Broadcast)
	if err != nil {
		return 0, err
	}
	defer lock.unlock()
	n, err := r.ledger.retryFailed(ctx, r.cfg.Now())
	if err != nil {
		return 0, err
	}
	r.cfg.Logger.InfoContext(ctx, "failed deliveries returned to pending", "broadcast", r.cfg.Broadcast, "deliveries", n)
	return n, nil
}
