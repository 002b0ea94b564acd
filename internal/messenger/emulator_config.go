package messenger

import (
	"math"
	"time"
)

// DefaultEmulatorAddr is where an Emulator listens unless told otherwise:
// loopback, on a free port.
const DefaultEmulatorAddr = "127.0.0.1:0"

// EmulatorConfig sets up an Emulator.
type EmulatorConfig struct {
	// Addr is the TCP address to listen on. Default DefaultEmulatorAddr.
	Addr string
	// AccessTokens are the tokens accepted for every Page. When empty, any
	// non-empty token is accepted.
	AccessTokens []string
	// RatePerSecond is the per-Page rate limit; requests over it are
	// answered with code 613. Zero means unlimited.
	RatePerSecond float64
	// Burst is how many requests above the steady rate a Page may make at
	// once. Default: a fifth of a second of traffic, at least 1.
	Burst int
	// OutsideWindow lists PSIDs whose 24-hour window is closed: RESPONSE and
	// UPDATE messages to them are refused with code 10, subcode 2018278.
	OutsideWindow []string
	// Unavailable lists PSIDs that cannot receive messages: code 551,
	// subcode 1545041.
	Unavailable []string
	// Latency is added to every answer, after the request is decided.
	Latency time.Duration
	// FailEvery makes every FailEvery-th valid request (right token, well
	// formed) fail with HTTP 500 and code 2 (transient) without delivering.
	// Zero disables it.
	FailEvery int
}

// burst returns the configured or default burst for the rate limit.
func (c EmulatorConfig) burst() int {
	if c.Burst > 0 {
		return c.Burst
	}
	return max(1, int(math.Ceil(c.RatePerSecond/5)))
}
