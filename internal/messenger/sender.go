package messenger

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// MaxPageMessagesPerSecond is the Send API's rate limit per Page.
const MaxPageMessagesPerSecond = 300

// DefaultWorkers is how many requests a Sender keeps in flight by default:
// enough for 300 messages a second at 100 ms of latency.
const DefaultWorkers = 32

// ErrNotSent marks a Result whose message was never handed to Graph (or was
// refused with certainty and not retried before the Sender stopped); the job
// may be sent again later without risk of a duplicate.
var ErrNotSent = errors.New("messenger: message not sent")

// SenderConfig tunes a Sender. The zero value sends at 300 messages a second
// with DefaultWorkers.
type SenderConfig struct {
	// MessagesPerSecond is the requested rate. Zero or more than
	// MaxPageMessagesPerSecond means MaxPageMessagesPerSecond.
	MessagesPerSecond float64
	// TenantMessagesPerSecond is the tenant's cap; zero means no cap. The
	// Sender never exceeds min(MessagesPerSecond, TenantMessagesPerSecond,
	// MaxPageMessagesPerSecond).
	TenantMessagesPerSecond float64
	// Workers is how many requests may be in flight. Default DefaultWorkers.
	Workers int
	// MaxAttempts bounds the attempts per message for retryable errors
	// (RateLimited, Transient). Default 10.
	MaxAttempts int
	// Backoff spaces the retries of one message.
	Backoff Backoff
	// MinMessagesPerSecond is the lowest rate throttling may push the Sender
	// to. Default 1.
	MinMessagesPerSecond float64
	// RecoveryInterval is how often the rate may grow back by a twentieth of
	// its ceiling after throttling, and how often throttling may halve it.
	// Default 1 s.
	RecoveryInterval time.Duration
	// UsageThreshold is the usage percentage (from Graph's usage headers)
	// above which the Sender slows down. Default 80.
	UsageThreshold int
	// RetryMaybeDelivered retries Transient errors after which Graph may have
	// delivered the message (timeouts after the request was written). The
	// default, false, reports them instead: a retry could send twice.
	RetryMaybeDelivered bool
}

// Ceiling returns the highest rate the configuration allows.
func (c SenderConfig) Ceiling() float64 {
	r := float64(MaxPageMessagesPerSecond)
	if c.MessagesPerSecond > 0 {
		r = min(r, c.MessagesPerSecond)
	}
	if c.TenantMessagesPerSecond > 0 {
		r = min(r, c.TenantMessagesPerSecond)
	}
	return r
}

func (c SenderConfig) withDefaults() SenderConfig {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	c.Backoff = c.Backoff.withDefaults()
	if c.MinMessagesPerSecond <= 0 {
		c.MinMessagesPerSecond = 1
	}
	if c.RecoveryInterval <= 0 {
		c.RecoveryInterval = time.Second
	}
	if c.UsageThreshold <= 0 || c.UsageThreshold > 100 {
		c.UsageThreshold = 80
	}
	return c
}

// Job is one message for a Sender.
type Job struct {
	// Key identifies the job to the caller (for example a delivery ledger
	// row). It is never sent and comes back in the Result.
	Key string
	// Message is what to send.
	Message Outgoing

	seq int
}

// Result is the outcome of one Job.
type Result struct {
	// Job is the job this result is for.
	Job Job
	// MessageID is Graph's message ID when the message was delivered.
	MessageID string
	// Err is nil when delivered; a *SendError when Graph or the network
	// refused it; or wraps ErrNotSent when the Sender stopped first.
	Err error
	// Attempts is how many requests were made for the job.
	Attempts int
}

// Sent reports whether the message was delivered.
func (r Result) Sent() bool { return r.Err == nil }

// SenderStats counts what a Sender did.
type SenderStats struct {
	// Sent and Failed count jobs by outcome; jobs stopped before sending are
	// in neither.
	Sent, Failed int64
	// Attempts counts requests, RateLimited counts RateLimited answers and
	// Retries counts requests that repeated an earlier one.
	Attempts, RateLimited, Retries int64
	// Rate is the rate enforced now; LowestRate the lowest enforced so far.
	Rate, LowestRate float64
}

// Sender delivers Jobs through a Client at a bounded, adaptive rate with
// several requests in flight. One Sender serves one Page; it is safe for
// concurrent use, and its rate adapts across calls to Run.
type Sender struct {
	client *Client
	cfg    SenderConfig
	ctrl   *rateController

	sent, failed, attempts, rateLimited, retries atomic.Int64
}

// NewSender returns a Sender that sends through client.
func NewSender(client *Client, cfg SenderConfig) (*Sender, error) {
	if client == nil {
		return nil, errors.New("messenger: sender needs a client")
	}
	for _, v := range []float64{cfg.MessagesPerSecond, cfg.TenantMessagesPerSecond, cfg.MinMessagesPerSecond} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("messenger: invalid rate %v", v)
		}
	}
	cfg = cfg.withDefaults()
	return &Sender{
		client: client,
		cfg:    cfg,
		ctrl: newRateController(cfg.Ceiling(), cfg.MinMessagesPerSecond, cfg.UsageThreshold,
			cfg.RecoveryInterval, time.Now),
	}, nil
}

// Stats returns the Sender's counters and current rate.
func (s *Sender) Stats() SenderStats {
	return SenderStats{
		Sent:        s.sent.Load(),
		Failed:      s.failed.Load(),
		Attempts:    s.attempts.Load(),
		RateLimited: s.rateLimited.Load(),
		Retries:     s.retries.Load(),
		Rate:        s.ctrl.rate(),
		LowestRate:  s.ctrl.lowestRate(),
	}
}

// Run sends the jobs received from jobs until the channel is closed, and
// calls onResult once per job it took, from the worker goroutines (onResult
// must be safe for concurrent use).
//
// Cancelling ctx pauses: no new request starts, requests in flight finish
// (so that their outcome is known), and jobs taken but not sent are reported
// with ErrNotSent. Jobs still in the channel are left there. An InvalidToken
// answer stops the run the same way, since every further request would fail.
//
// Run returns nil when every job was handled, the InvalidToken *SendError
// that stopped it, or the cause of ctx's cancellation.
func (s *Sender) Run(ctx context.Context, jobs <-chan Job, onResult func(Result)) error {
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-runCtx.Done():
					return
				case job, ok := <-jobs:
					if !ok {
						return
					}
					res := s.deliver(runCtx, job)
					onResult(res)
					if ClassOf(res.Err) == InvalidToken {
						stop(res.Err)
					}
				}
			}
		})
	}
	wg.Wait()
	if runCtx.Err() != nil {
		return context.Cause(runCtx)
	}
	return nil
}

// SendAll sends jobs and returns their results in the same order. Jobs the
// Sender did not get to (after a pause or an invalid token) have results
// wrapping ErrNotSent. The error is as for Run.
func (s *Sender) SendAll(ctx context.Context, jobs []Job) ([]Result, error) {
	results := make([]Result, len(jobs))
	done := make([]bool, len(jobs))
	ch := make(chan Job)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(ch)
		for i, j := range jobs {
			j.seq = i
			select {
			case ch <- j:
			case <-runCtx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	err := s.Run(runCtx, ch, func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		results[r.Job.seq] = r
		done[r.Job.seq] = true
	})
	cancel()
	for i, j := range jobs {
		if !done[i] {
			j.seq = i
			results[i] = Result{Job: j, Err: notSent(err)}
		}
	}
	return results, err
}

// deliver sends one job, retrying retryable errors with backoff.
func (s *Sender) deliver(ctx context.Context, job Job) Result {
	res := Result{Job: job}
	var last *SendError
	for attempt := 1; ; attempt++ {
		if err := s.ctrl.wait(ctx); err != nil {
			res.Err = s.stopped(ctx, last)
			return res
		}
		started := time.Now()
		res.Attempts = attempt
		s.attempts.Add(1)
		if attempt > 1 {
			s.retries.Add(1)
		}
		// In-flight requests are not cancelled by a pause: the outcome of a
		// request cut off midway would be unknown. The client's timeout
		// bounds them.
		id, err := s.client.send(context.WithoutCancel(ctx), job.Message)
		s.ctrl.observe(s.client.Usage())
		if err == nil {
			s.ctrl.succeeded()
			s.sent.Add(1)
			res.MessageID = id
			return res
		}
		var se *SendError
		if !errors.As(err, &se) {
			se = &SendError{Class: Transient, Message: "unexpected error", cause: err}
		}
		last = se
		if se.Class == RateLimited {
			s.rateLimited.Add(1)
			s.ctrl.rateLimited(started)
		}
		if !s.retryable(se) || attempt >= s.cfg.MaxAttempts {
			s.failed.Add(1)
			res.Err = se
			return res
		}
		if err := sleep(ctx, s.cfg.Backoff.Delay(attempt)); err != nil {
			res.Err = s.stopped(ctx, last)
			return res
		}
	}
}

func (s *Sender) retryable(e *SendError) bool {
	if !e.Class.Retryable() {
		return false
	}
	return !e.MaybeDelivered || s.cfg.RetryMaybeDelivered
}

// stopped is the error of a job abandoned because ctx ended. When the last
// attempt may have delivered the message, that error is kept: the job is
// not safely "not sent".
func (s *Sender) stopped(ctx context.Context, last *SendError) error {
	if last != nil && last.MaybeDelivered {
		s.failed.Add(1)
		return last
	}
	return notSent(context.Cause(ctx))
}

// notSent wraps ErrNotSent with why the Sender stopped. A *SendError cause
// (the invalid token that stopped the run) is kept as text only, so that
// ClassOf reports the class of this job's own failure, not another's.
func notSent(cause error) error {
	var se *SendError
	switch {
	case cause == nil:
		return ErrNotSent
	case errors.As(cause, &se):
		return fmt.Errorf("%w: the sender stopped: %v", ErrNotSent, cause)
	default:
		return fmt.Errorf("%w: %w", ErrNotSent, cause)
	}
}
