package messenger

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		attempt int
		random  float64
		want    time.Duration
	}{
		{1, 0, 50 * time.Millisecond},
		{1, 1, 100 * time.Millisecond},
		{2, 1, 200 * time.Millisecond},
		{4, 1, 800 * time.Millisecond},
		{5, 1, time.Second},
		{5, 0, 500 * time.Millisecond},
		{1000, 1, time.Second},
	}
	for _, tt := range tests {
		got := b.delay(tt.attempt, func() float64 { return tt.random })
		if got != tt.want {
			t.Errorf("delay(attempt %d, random %.0f) = %s, want %s", tt.attempt, tt.random, got, tt.want)
		}
	}
	for range 100 {
		if d := b.Delay(3); d < 200*time.Millisecond || d > 400*time.Millisecond {
			t.Fatalf("Delay(3) = %s, want within [200ms, 400ms]", d)
		}
	}
	if d := (Backoff{}).delay(1, func() float64 { return 1 }); d != 500*time.Millisecond {
		t.Fatalf("default first delay = %s, want 500ms", d)
	}
}
