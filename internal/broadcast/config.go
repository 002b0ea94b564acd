package broadcast

import (
	"database/sql"
	"log/slog"
	"math"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// Defaults of the optional Config fields.
const (
	DefaultPageSize         = 256
	DefaultFreezeBatch      = 5000
	DefaultClaimBatch       = 8
	DefaultProgressInterval = 5 * time.Second
	DefaultLedgerTimeout    = 30 * time.Second
	DefaultLedgerWriters    = 4
	// MinAttemptsForAutoPause is how many sends a run makes before its
	// failure ratio may pause it.
	MinAttemptsForAutoPause = 20
	// Window is Messenger's standard messaging window after a lead's last
	// message.
	Window = 24 * time.Hour
)

// latencyAllowance is the Graph latency the default SendWorkers keep the
// rate up for.
const latencyAllowance = 250 * time.Millisecond

// Opener decrypts a keyring envelope; *crypto.Keyring implements it.
type Opener interface {
	Open(ciphertext, associatedData []byte) ([]byte, error)
}

// Config is what a Runner needs for one Broadcast. The fields from DB to
// ExcludeTags are required unless marked optional.
type Config struct {
	// DB is the tenant's database with the reference schema. A run uses one
	// connection for its lock, one for the audience and one per ledger
	// writer: allow at least 3 open connections, LedgerWriters + 2 for full
	// speed.
	DB *sql.DB
	// Engine is DB's engine.
	Engine schema.Engine
	// Keyring opens leads.psid_enc, first_name_enc and last_name_enc, sealed
	// with the associated data "leads.psid:<id>", "leads.first_name:<id>"
	// and "leads.last_name:<id>" (see LeadAssociatedData).
	Keyring Opener
	// UnsubscribeKey is the tenant's key for signing unsubscribe tokens.
	UnsubscribeKey []byte
	// Tenant is the tenant name that tokens are issued for.
	Tenant string
	// Host is the tenant's public host name (optionally with a port); every
	// message links to https://<Host>/unsubscribe/<token>.
	Host string
	// Broadcast is the Broadcast's name, the ledger's key (at most 253
	// characters).
	Broadcast string
	// PageID is the Page whose leads make the audience.
	PageID string

	// Text is the message, a Go text/template over MessageFields.
	Text string
	// Buttons, optional, turn the message into a button template.
	Buttons []messenger.Button
	// MessagingType is RESPONSE, UPDATE or MESSAGE_TAG.
	MessagingType messenger.MessagingType
	// Tag is the message tag, required with MESSAGE_TAG and refused
	// otherwise.
	Tag string
	// Tags, optional: only leads carrying every one of them are in the
	// audience.
	Tags []string
	// ExcludeTags, optional: leads carrying any of them are not.
	ExcludeTags []string

	// Rate is the send rate in messages per second, already the minimum of
	// the Broadcast's, the tenant's and Messenger's 300 per Page. It builds
	// the Sender when Sender is nil and is ignored otherwise.
	Rate float64
	// MaxFailureRatio pauses a run once more than this share of its sends
	// failed, after MinAttemptsForAutoPause sends. Zero disables it.
	MaxFailureRatio float64

	// Client sends through the Send API. Used, when Sender is nil, to build
	// a Sender at Rate with SendWorkers and messenger's default backoff.
	Client *messenger.Client
	// SendWorkers is how many sends the Sender built from Client keeps in
	// flight or waiting for the rate limiter. Default: enough for Rate at
	// 250 ms of Graph latency, at least messenger.DefaultWorkers (75 at 300
	// messages a second). Each holds a claimed delivery, so a worker killed
	// without warning can leave that many unknown outcomes.
	SendWorkers int
	// Sender, optional, is the rate-limited sender to use instead.
	Sender *messenger.Sender

	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnProgress, optional, receives the progress during Run: once the
	// audience is frozen and then at most once per ProgressInterval, from
	// one goroutine, never after Run returned. Run's result is the final
	// progress.
	OnProgress func(Progress)
	// ProgressInterval is the least time between two OnProgress calls.
	// Default DefaultProgressInterval.
	ProgressInterval time.Duration
	// Logger, optional, gets one record per run and per failed delivery,
	// naming leads by id only. Default: no logging.
	Logger *slog.Logger

	// PageSize is how many pending deliveries one audience page reads.
	// Default DefaultPageSize.
	PageSize int
	// FreezeBatch is how many leads one INSERT ... SELECT of the audience
	// freeze adds. Default DefaultFreezeBatch.
	FreezeBatch int
	// ClaimBatch is how many deliveries one ledger statement claims before
	// they are handed to the Sender, and how many claimed jobs may wait for
	// a Sender worker. Default DefaultClaimBatch.
	ClaimBatch int
	// LedgerTimeout bounds each ledger write, also those made while a
	// cancelled run records its last outcomes. Default DefaultLedgerTimeout.
	LedgerTimeout time.Duration
	// LedgerWriters is how many goroutines record send outcomes, each with
	// its own connection. Default DefaultLedgerWriters.
	LedgerWriters int
}

// withDefaults fills in the optional fields.
func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PageSize <= 0 {
		c.PageSize = DefaultPageSize
	}
	if c.FreezeBatch <= 0 {
		c.FreezeBatch = DefaultFreezeBatch
	}
	if c.ClaimBatch <= 0 {
		c.ClaimBatch = DefaultClaimBatch
	}
	if c.LedgerTimeout <= 0 {
		c.LedgerTimeout = DefaultLedgerTimeout
	}
	if c.LedgerWriters <= 0 {
		c.LedgerWriters = DefaultLedgerWriters
	}
	if c.SendWorkers <= 0 {
		c.SendWorkers = max(messenger.DefaultWorkers, int(math.Ceil(c.Rate*latencyAllowance.Seconds())))
	}
	return c
}
