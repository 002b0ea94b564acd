package messenger

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is a bounded exponential backoff with jitter.
type Backoff struct {
	// Initial is the delay before the first retry. Default 500 ms.
	Initial time.Duration
	// Max bounds every delay. Default 30 s.
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 500 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// Delay returns how long to wait after the given failed attempt (1 for the
// first): Initial doubled per attempt, capped at Max, then spread uniformly
// over its upper half so that workers that failed together do not retry
// together.
func (b Backoff) Delay(attempt int) time.Duration {
	return b.delay(attempt, rand.Float64)
}

func (b Backoff) delay(attempt int, random func() float64) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + time.Duration(random()*float64(d-half))
}

// sleep waits for d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
