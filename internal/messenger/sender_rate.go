package messenger

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateController owns the Sender's rate limiter and adapts its rate:
//
//   - additive increase, multiplicative decrease: a RateLimited answer halves
//     the rate, at most once per recovery interval (a burst of refusals is
//     one congestion event, and answers to requests started before the last
//     decrease never count again), and every recovery interval without
//     throttling adds a twentieth of the ceiling back;
//   - usage headers: above the threshold the rate is scaled down linearly,
//     to a quarter at 100 %, before Graph starts refusing;
//   - a business that Graph says is blocked pauses all sending until the
//     estimated time to regain access has passed.
type rateController struct {
	limiter *rate.Limiter
	// turn lets one caller at a time wait on the limiter, so that at most
	// one reservation is outstanding and a rate change applies to the very
	// next request instead of after a queue reserved at the old rate.
	turn             chan struct{}
	ceiling, floor   float64
	step             float64
	threshold        int
	recoveryInterval time.Duration
	now              func() time.Time

	mu           sync.Mutex
	current      float64
	usageFactor  float64
	lastDecrease time.Time
	lastIncrease time.Time
	pausedUntil  time.Time
	lowest       float64
}

func newRateController(ceiling, floor float64, threshold int, recovery time.Duration, now func() time.Time) *rateController {
	floor = min(floor, ceiling)
	c := &rateController{
		limiter:          rate.NewLimiter(rate.Limit(ceiling), 1),
		turn:             make(chan struct{}, 1),
		ceiling:          ceiling,
		floor:            floor,
		step:             max(ceiling/20, 1),
		threshold:        threshold,
		recoveryInterval: recovery,
		now:              now,
		current:          ceiling,
		usageFactor:      1,
		lowest:           ceiling,
	}
	c.lastIncrease = now()
	return c
}

// wait blocks until the Sender may start one more request.
func (c *rateController) wait(ctx context.Context) error {
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.turn }()
	for {
		c.mu.Lock()
		pause := c.pausedUntil.Sub(c.now())
		c.mu.Unlock()
		if pause <= 0 {
			break
		}
		if err := sleep(ctx, pause); err != nil {
			return err
		}
	}
	return c.limiter.Wait(ctx)
}

// rateLimited records a RateLimited answer to a request started at started.
func (c *rateController) rateLimited(started time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if started.Before(c.lastDecrease) || now.Sub(c.lastDecrease) < c.recoveryInterval {
		return // the same congestion event as the last decrease
	}
	c.current = max(c.floor, c.current/2)
	c.lastDecrease = now
	c.lastIncrease = now
	c.applyLocked()
}

// succeeded records a delivered message and recovers the rate slowly.
func (c *rateController) succeeded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current >= c.ceiling {
		return
	}
	now := c.now()
	if now.Sub(c.lastIncrease) < c.recoveryInterval {
		return
	}
	c.current = min(c.ceiling, c.current+c.step)
	c.lastIncrease = now
	c.applyLocked()
}

// observe applies the usage reported by Graph.
func (c *rateController) observe(u Usage) {
	if u.ObservedAt.IsZero() {
		return
	}
	factor := 1.0
	if pct := u.MaxPercent(); pct >= c.threshold && c.threshold < 100 {
		factor = max(0.25, 1-0.75*float64(pct-c.threshold)/float64(100-c.threshold))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := u.RegainAccessIn(); d > 0 {
		if until := u.ObservedAt.Add(d); until.After(c.pausedUntil) {
			c.pausedUntil = until
		}
	}
	if factor != c.usageFactor {
		c.usageFactor = factor
		c.applyLocked()
	}
}

// rate returns the rate the limiter currently enforces.
func (c *rateController) rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.effectiveLocked()
}

// lowestRate returns the lowest rate enforced so far.
func (c *rateController) lowestRate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lowest
}

func (c *rateController) effectiveLocked() float64 {
	return max(c.floor, c.current*c.usageFactor)
}

func (c *rateController) applyLocked() {
	r := c.effectiveLocked()
	c.lowest = min(c.lowest, r)
	c.limiter.SetLimit(rate.Limit(r))
}
