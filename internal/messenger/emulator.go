package messenger

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Emulator is an in-process Messenger Send API. It listens on a real TCP
// port (loopback by default), so that workers in other processes can reach
// it too, and records every delivery it accepts.
type Emulator struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	done chan struct{}

	mu          sync.Mutex
	cfg         EmulatorConfig
	tokens      map[string]bool
	outside     map[string]bool
	unavailable map[string]bool
	limiters    map[string]*rate.Limiter
	inject613   int
	inject5xx   int
	requests    int
	decided     int
	deliveries  []Delivery
	perPSID     map[string]int
	answered    map[int]int
	serverErrs  int
	inFlight    int
	maxInFlight int
}

// Delivery is a message the Emulator accepted.
type Delivery struct {
	// PageID is the Page that sent the message.
	PageID string
	// PSID is the recipient.
	PSID string
	// MessagingType is the messaging type as sent.
	MessagingType MessagingType
	// Tag is the message tag as sent, or "".
	Tag string
	// Text is the message text or the button template text.
	Text string
	// Buttons are the web_url buttons of a button template.
	Buttons []Button
	// MessageID is the ID the Emulator answered with.
	MessageID string
	// At is when the Emulator accepted the message.
	At time.Time
}

// EmulatorStats counts what the Emulator answered.
type EmulatorStats struct {
	// Requests counts every request to the messages endpoint.
	Requests int
	// Accepted counts delivered messages.
	Accepted int
	// ByCode counts error answers by Graph error code.
	ByCode map[int]int
	// ServerErrors counts HTTP 5xx answers.
	ServerErrors int
	// MaxInFlight is the most requests the Emulator handled at once.
	MaxInFlight int
}

// NewEmulator starts an Emulator on cfg.Addr. Close it when done.
func NewEmulator(cfg EmulatorConfig) (*Emulator, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultEmulatorAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("messenger emulator: listen on %s: %w", addr, err)
	}
	e := newEmulator(cfg)
	e.ln = ln
	e.url = "http://" + ln.Addr().String()
	e.srv = &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	e.done = make(chan struct{})
	go func() {
		defer close(e.done)
		_ = e.srv.Serve(ln)
	}()
	return e, nil
}

// ListenAndServeEmulator runs an Emulator on cfg.Addr until ctx is done,
// for a command that serves it to local runs. ready, if not nil, is called
// with the Emulator's URL once it listens.
func ListenAndServeEmulator(ctx context.Context, cfg EmulatorConfig, ready func(url string)) error {
	e, err := NewEmulator(cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(e.URL())
	}
	<-ctx.Done()
	return e.Close()
}

func newEmulator(cfg EmulatorConfig) *Emulator {
	e := &Emulator{
		cfg:         cfg,
		tokens:      make(map[string]bool),
		outside:     make(map[string]bool),
		unavailable: make(map[string]bool),
		limiters:    make(map[string]*rate.Limiter),
		perPSID:     make(map[string]int),
		answered:    make(map[int]int),
	}
	for _, t := range cfg.AccessTokens {
		e.tokens[t] = true
	}
	for _, p := range cfg.OutsideWindow {
		e.outside[p] = true
	}
	for _, p := range cfg.Unavailable {
		e.unavailable[p] = true
	}
	return e
}

// URL is the base URL to use as ClientConfig.GraphAPIURL.
func (e *Emulator) URL() string { return e.url }

// Close stops the Emulator and closes open connections.
func (e *Emulator) Close() error {
	err := e.srv.Close()
	<-e.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Deliveries returns a copy of the accepted messages, oldest first.
func (e *Emulator) Deliveries() []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.deliveries)
}

// CountFor returns how many messages were delivered to psid.
func (e *Emulator) CountFor(psid string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.perPSID[psid]
}

// Answered returns how many requests were answered with Graph error code
// code; Answered(0) counts accepted messages.
func (e *Emulator) Answered(code int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if code == 0 {
		return len(e.deliveries)
	}
	return e.answered[code]
}

// Stats returns the Emulator's counters.
func (e *Emulator) Stats() EmulatorStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	byCode := make(map[int]int, len(e.answered))
	for k, v := range e.answered {
		byCode[k] = v
	}
	return EmulatorStats{
		Requests:     e.requests,
		Accepted:     len(e.deliveries),
		ByCode:       byCode,
		ServerErrors: e.serverErrs,
		MaxInFlight:  e.maxInFlight,
	}
}

// SetOutsideWindow opens (false) or closes (true) the 24-hour window of psid.
func (e *Emulator) SetOutsideWindow(psid string, outside bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	setMember(e.outside, psid, outside)
}

// SetUnavailable marks psid as unable (true) or able (false) to receive.
func (e *Emulator) SetUnavailable(psid string, unavailable bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	setMember(e.unavailable, psid, unavailable)
}

// SetLatency changes the latency added to every answer.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.Latency = d
}

// SetRateLimit changes the per-Page rate limit and burst (0 for the
// default burst) and refills every Page's bucket.
func (e *Emulator) SetRateLimit(perSecond float64, burst int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.RatePerSecond = perSecond
	e.cfg.Burst = burst
	clear(e.limiters)
}

// InjectRateLimit answers the next n valid requests with code 613,
// whatever the rate: a storm of throttling for tests.
func (e *Emulator) InjectRateLimit(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inject613 += n
}

// InjectServerErrors answers the next n valid requests with HTTP 500 and
// code 2, without delivering.
func (e *Emulator) InjectServerErrors(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inject5xx += n
}

func setMember(set map[string]bool, key string, member bool) {
	if member {
		set[key] = true
	} else {
		delete(set, key)
	}
}

// newMessageID returns an ID shaped like Graph's ("m_" and URL-safe base64).
func newMessageID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "m_" + base64.RawURLEncoding.EncodeToString(b)
}

// newTraceID returns an opaque ID shaped like Graph's fbtrace_id.
func newTraceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
