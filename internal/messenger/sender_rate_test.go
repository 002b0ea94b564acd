package messenger

import (
	"context"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestController(clock *fakeClock) *rateController {
	return newRateController(100, 5, 80, time.Second, clock.now)
}

func TestRateControllerAIMD(t *testing.T) {
	t.Run("throttling halves the rate once per congestion event", func(t *testing.T) {
		clock := &fakeClock{t: time.Unix(1000, 0)}
		c := newTestController(clock)
		started := clock.now()
		clock.advance(10 * time.Millisecond)
		c.rateLimited(started)
		if got := c.rate(); got != 50 {
			t.Fatalf("rate after one 613 = %v, want 50", got)
		}
		// More answers to requests that were already in flight, and a burst
		// of refusals within the same recovery interval.
		c.rateLimited(started)
		c.rateLimited(started.Add(5 * time.Millisecond))
		clock.advance(500 * time.Millisecond)
		c.rateLimited(clock.now())
		if got := c.rate(); got != 50 {
			t.Fatalf("rate after 613s of the same event = %v, want still 50", got)
		}
		// Throttling that goes on is a new event.
		clock.advance(time.Second)
		c.rateLimited(clock.now())
		if got := c.rate(); got != 25 {
			t.Fatalf("rate after a new 613 = %v, want 25", got)
		}
		// An answer to a request started before that decrease is not.
		clock.advance(2 * time.Second)
		c.rateLimited(clock.now().Add(-3 * time.Second))
		if got := c.rate(); got != 25 {
			t.Fatalf("rate after a late answer to an old request = %v, want still 25", got)
		}
	})

	t.Run("the rate never drops below the floor", func(t *testing.T) {
		clock := &fakeClock{t: time.Unix(1000, 0)}
		c := newTestController(clock)
		for range 20 {
			clock.advance(time.Second)
			c.rateLimited(clock.now())
		}
		if got := c.rate(); got != 5 {
			t.Fatalf("rate = %v, want the floor 5", got)
		}
		if got := c.lowestRate(); got != 5 {
			t.Fatalf("lowestRate = %v, want 5", got)
		}
	})

	t.Run("the rate recovers slowly, up to the ceiling", func(t *testing.T) {
		clock := &fakeClock{t: time.Unix(1000, 0)}
		c := newTestController(clock)
		c.rateLimited(clock.now())
		c.succeeded()
		if got := c.rate(); got != 50 {
			t.Fatalf("rate right after throttling = %v, want 50", got)
		}
		clock.advance(time.Second)
		c.succeeded()
		if got := c.rate(); got != 55 {
			t.Fatalf("rate one interval later = %v, want 55 (ceiling/20 more)", got)
		}
		c.succeeded()
		if got := c.rate(); got != 55 {
			t.Fatalf("rate within the same interval = %v, want 55", got)
		}
		for range 20 {
			clock.advance(time.Second)
			c.succeeded()
		}
		if got := c.rate(); got != 100 {
			t.Fatalf("rate after a long quiet time = %v, want the ceiling 100", got)
		}
	})
}

func TestRateControllerUsage(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	c := newTestController(clock)
	usage := func(pct int) Usage {
		return Usage{App: &AppUsage{CallCount: pct}, ObservedAt: clock.now()}
	}
	tests := []struct {
		pct  int
		want float64
	}{
		{50, 100},
		{79, 100},
		{80, 100},
		{90, 62.5},
		{100, 25},
		{10, 100},
	}
	for _, tt := range tests {
		c.observe(usage(tt.pct))
		if got := c.rate(); got != tt.want {
			t.Errorf("rate at %d%% usage = %v, want %v", tt.pct, got, tt.want)
		}
	}
	c.observe(Usage{})
	if got := c.rate(); got != 100 {
		t.Errorf("a response without usage headers changed the rate to %v", got)
	}
}

func TestRateControllerPausesWhileBlocked(t *testing.T) {
	c := newRateController(1000, 1, 80, time.Second, time.Now)
	c.observe(Usage{
		Business:   []BusinessUsage{{BusinessID: "p", CallCount: 100, RegainAccessIn: time.Minute}},
		ObservedAt: time.Now(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.wait(ctx); err == nil {
		t.Fatal("wait returned while Graph reports the business blocked for a minute")
	}
}
