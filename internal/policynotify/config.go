package policynotify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/inboxchat/inboxchat-operator/internal/mail"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// Defaults of the optional Config fields. MinConcurrency and MaxConcurrency
// bound the default Concurrency.
const (
	MinConcurrency                = 4
	MaxConcurrency                = 32
	DefaultPageSize               = 500
	DefaultMaxAttempts            = 5
	DefaultRetryBackoff           = 2 * time.Second
	DefaultMaxRetryBackoff        = time.Minute
	DefaultProgressInterval       = 5 * time.Second
	DefaultDrainTimeout           = 20 * time.Second
	DefaultMaxConsecutiveFailures = 25
)

// maxVersionLen is the width of policy_notifications.version and
// users.policy_version_accepted.
const maxVersionLen = 64

// Sender sends one e-mail; *mail.Mailer implements it. Send must report
// failures as *mail.Error and *mail.RecipientError, as mail.Mailer does, so
// that they can be classified: any other error is taken to mean that the
// message may have been delivered.
type Sender interface {
	Send(ctx context.Context, msg mail.Message) error
}

// Opener decrypts a keyring envelope; *crypto.Keyring implements it.
type Opener interface {
	Open(ciphertext, associatedData []byte) ([]byte, error)
}

// Config is what a Notifier needs. DB, Engine, Keyring, Mailer, Version,
// EffectiveAt, DocumentURL, Summary, Product and Rate are required.
type Config struct {
	// DB is the tenant's database with the reference schema.
	DB *sql.DB
	// Engine is DB's engine.
	Engine schema.Engine
	// Keyring opens users.email_enc.
	Keyring Opener
	// Mailer sends the notices.
	Mailer Sender

	// Version is the policy version (at most 64 characters); the ledger
	// holds one row per version and user.
	Version string
	// EffectiveAt is when the version takes effect.
	EffectiveAt time.Time
	// DocumentURL is the absolute http(s) address of the policy.
	DocumentURL string
	// Summary says what changed, in plain text.
	Summary string
	// Product is the name users know the tenant's app by.
	Product string
	// RequireReacceptance says users must accept the version again.
	RequireReacceptance bool

	// Rate is how many messages (attempts, including retries) may start per
	// second, at most one at a time (burst 1). rate.Inf lifts the limit.
	Rate rate.Limit
	// Concurrency is how many messages may be under way at once. Default:
	// one per 5 messages/s of Rate, at least MinConcurrency and at most
	// MaxConcurrency, so that the rate is kept while an SMTP transaction
	// (connect, STARTTLS, AUTH, one message) takes up to 200 ms.
	Concurrency int
	// PageSize is how many users one keyset page reads. Default
	// DefaultPageSize.
	PageSize int
	// MaxAttempts bounds the attempts per user on temporary failures.
	// Default DefaultMaxAttempts.
	MaxAttempts int
	// RetryBackoff is the wait before the second attempt; it doubles for
	// every further attempt, up to MaxRetryBackoff, with jitter. Defaults
	// DefaultRetryBackoff and DefaultMaxRetryBackoff.
	RetryBackoff, MaxRetryBackoff time.Duration
	// MaxConsecutiveFailures stops the run when that many users in a row
	// could not be mailed for a reason that is not about their address or
	// mailbox (see the package documentation). Default
	// DefaultMaxConsecutiveFailures.
	MaxConsecutiveFailures int
	// DrainTimeout bounds how long the sends under way may take to finish
	// after Run's context is cancelled. Default DefaultDrainTimeout, below
	// Kubernetes' default termination grace period of 30 s.
	DrainTimeout time.Duration

	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnProgress, when set, receives the progress during Run at most once
	// per ProgressInterval (default DefaultProgressInterval), from one
	// goroutine, never after Run returned. Run's result is the final
	// progress.
	OnProgress       func(Progress)
	ProgressInterval time.Duration
	// Logger receives one record per run and per user that could not be
	// mailed, naming users by id only. Default: no logging.
	Logger *slog.Logger
}

// withDefaults fills in the optional fields.
func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = MinConcurrency
		if c.Rate != rate.Inf {
			c.Concurrency = min(max(int(math.Ceil(float64(c.Rate)/5)), MinConcurrency), MaxConcurrency)
		}
	}
	if c.PageSize <= 0 {
		c.PageSize = DefaultPageSize
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.MaxRetryBackoff <= 0 {
		c.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	if c.MaxConsecutiveFailures <= 0 {
		c.MaxConsecutiveFailures = DefaultMaxConsecutiveFailures
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports every problem with the required fields. The notice's
// own fields are checked when it is rendered.
func (c Config) validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("DB is nil"))
	}
	if c.Engine.DriverName() == "" {
		errs = append(errs, fmt.Errorf("engine %q is not %q or %q", c.Engine, schema.Postgres, schema.MySQL))
	}
	if c.Keyring == nil {
		errs = append(errs, errors.New("Keyring is nil"))
	}
	if c.Mailer == nil {
		errs = append(errs, errors.New("Mailer is nil"))
	}
	if c.Version == "" || utf8.RuneCountInString(c.Version) > maxVersionLen {
		errs = append(errs, fmt.Errorf("Version must have 1 to %d characters", maxVersionLen))
	}
	if !(c.Rate > 0) {
		errs = append(errs, errors.New("Rate must be above zero (rate.Inf for no limit)"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("policynotify: invalid config: %w", err)
	}
	return nil
}
