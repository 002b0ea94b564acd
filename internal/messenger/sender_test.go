package messenger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func jobsFor(n int, prefix string) []Job {
	jobs := make([]Job, n)
	for i := range jobs {
		psid := fmt.Sprintf("%s-%04d", prefix, i)
		jobs[i] = Job{Key: "lead-" + psid, Message: Outgoing{PSID: psid, MessagingType: MessagingTypeUpdate, Text: "Hello " + psid}}
	}
	return jobs
}

func newTestSender(t testing.TB, c *Client, cfg SenderConfig) *Sender {
	t.Helper()
	s, err := NewSender(c, cfg)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

// assertExactlyOnce fails unless every job was delivered exactly once.
func assertExactlyOnce(t *testing.T, e *Emulator, jobs []Job) {
	t.Helper()
	for _, j := range jobs {
		if n := e.CountFor(j.Message.PSID); n != 1 {
			t.Fatalf("%s was delivered %d times, want exactly once", j.Message.PSID, n)
		}
	}
	if got := len(e.Deliveries()); got != len(jobs) {
		t.Fatalf("the emulator recorded %d deliveries for %d jobs", got, len(jobs))
	}
}

func TestSenderCeiling(t *testing.T) {
	tests := []struct {
		cfg  SenderConfig
		want float64
	}{
		{SenderConfig{}, 300},
		{SenderConfig{MessagesPerSecond: 1000}, 300},
		{SenderConfig{MessagesPerSecond: 50}, 50},
		{SenderConfig{MessagesPerSecond: 250, TenantMessagesPerSecond: 100}, 100},
		{SenderConfig{TenantMessagesPerSecond: 20}, 20},
	}
	for _, tt := range tests {
		if got := tt.cfg.Ceiling(); got != tt.want {
			t.Errorf("Ceiling(%+v) = %v, want %v", tt.cfg, got, tt.want)
		}
	}
	if _, err := NewSender(nil, SenderConfig{}); err == nil {
		t.Error("NewSender without a client should fail")
	}
	c := newTestClient(t, "http://127.0.0.1:1", testToken, 0)
	if _, err := NewSender(c, SenderConfig{MessagesPerSecond: -1}); err == nil {
		t.Error("NewSender with a negative rate should fail")
	}
}

func TestSenderRespectsTheRateLimit(t *testing.T) {
	// The Page allows 100/s; the broadcast asks for 250/s and the tenant
	// caps it at 100/s. At the Page's limit the emulator must never throttle.
	e := startEmulator(t, EmulatorConfig{RatePerSecond: 100, Latency: 5 * time.Millisecond})
	c := newTestClient(t, e.URL(), testToken, 0)
	s := newTestSender(t, c, SenderConfig{MessagesPerSecond: 250, TenantMessagesPerSecond: 100, Workers: 8})
	jobs := jobsFor(200, "rate")

	results, err := s.SendAll(context.Background(), jobs)
	if err != nil {
		t.Fatalf("SendAll: %v", err)
	}
	if n := e.Answered(613); n != 0 {
		t.Fatalf("the emulator answered 613 %d times; a sender at the Page's rate must not be throttled", n)
	}
	for i, r := range results {
		if !r.Sent() || r.Job.Key != jobs[i].Key || r.Attempts != 1 {
			t.Fatalf("result %d = %+v, want sent on the first attempt", i, r)
		}
	}
	assertExactlyOnce(t, e, jobs)
}

func TestSenderBacksOffInAThrottlingStorm(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{RatePerSecond: 100})
	e.InjectRateLimit(60)
	c := newTestClient(t, e.URL(), testToken, 0)
	s := newTestSender(t, c, SenderConfig{
		Workers:     16,
		MaxAttempts: 50,
		Backoff:     Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond},
	})
	jobs := jobsFor(120, "storm")

	results, err := s.SendAll(context.Background(), jobs)
	if err != nil {
		t.Fatalf("SendAll: %v", err)
	}
	for _, r := range results {
		if !r.Sent() {
			t.Fatalf("job %s failed after %d attempts: %v", r.Job.Key, r.Attempts, r.Err)
		}
	}
	assertExactlyOnce(t, e, jobs)
	st := s.Stats()
	if st.RateLimited < 60 || int64(e.Answered(613)) != st.RateLimited {
		t.Fatalf("sender saw %d RateLimited answers, emulator sent %d; want the 60 injected at least", st.RateLimited, e.Answered(613))
	}
	if st.LowestRate >= 300 {
		t.Fatalf("lowest rate %v: the sender never slowed down", st.LowestRate)
	}
	if st.Retries != st.RateLimited {
		t.Fatalf("%d retries for %d throttled requests, want one retry each", st.Retries, st.RateLimited)
	}
}

func TestSenderReportsFinalErrorsWithoutRetrying(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{OutsideWindow: []string{"closed"}, Unavailable: []string{"gone"}})
	e.InjectServerErrors(1)
	c := newTestClient(t, e.URL(), testToken, 0)
	s := newTestSender(t, c, SenderConfig{Workers: 1, Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}})
	jobs := []Job{
		{Key: "flaky", Message: Outgoing{PSID: "flaky", MessagingType: MessagingTypeUpdate, Text: "x"}},
		{Key: "closed", Message: Outgoing{PSID: "closed", MessagingType: MessagingTypeUpdate, Text: "x"}},
		{Key: "gone", Message: Outgoing{PSID: "gone", MessagingType: MessagingTypeUpdate, Text: "x"}},
	}
	results, err := s.SendAll(context.Background(), jobs)
	if err != nil {
		t.Fatalf("SendAll: %v", err)
	}
	if r := results[0]; !r.Sent() || r.Attempts != 2 {
		t.Fatalf("a server error should be retried once and then succeed: %+v", r)
	}
	if r := results[1]; ClassOf(r.Err) != OutsideWindow || r.Attempts != 1 {
		t.Fatalf("outside the window: %+v, want OutsideWindow after one attempt", r)
	}
	if r := results[2]; ClassOf(r.Err) != Unavailable || r.Attempts != 1 {
		t.Fatalf("unavailable: %+v, want Unavailable after one attempt", r)
	}
	if st := s.Stats(); st.Sent != 1 || st.Failed != 2 {
		t.Fatalf("stats %+v, want 1 sent and 2 failed", st)
	}
}

func TestSenderDoesNotRetryWhatMayHaveBeenDelivered(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{Latency: time.Second})
	c := newTestClient(t, e.URL(), testToken, 100*time.Millisecond)
	s := newTestSender(t, c, SenderConfig{Workers: 1})
	results, _ := s.SendAll(context.Background(), jobsFor(1, "timeout"))
	r := results[0]
	se := asSendError(t, r.Err)
	if !se.MaybeDelivered || r.Attempts != 1 {
		t.Fatalf("result %+v, want one attempt reported as MaybeDelivered", r)
	}
	if n := e.CountFor(r.Job.Message.PSID); n != 1 {
		t.Fatalf("delivered %d times, want once", n)
	}
}

func TestSenderStopsOnAnInvalidToken(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{})
	c := newTestClient(t, e.URL(), "EAAGrevoked", 0)
	s := newTestSender(t, c, SenderConfig{Workers: 4})
	jobs := jobsFor(50, "token")

	results, err := s.SendAll(context.Background(), jobs)
	if ClassOf(err) != InvalidToken {
		t.Fatalf("SendAll error = %v, want the InvalidToken error that stopped it", err)
	}
	var invalid, notSent int
	for _, r := range results {
		switch {
		case errors.Is(r.Err, ErrNotSent):
			notSent++
			if ClassOf(r.Err) != "" {
				t.Fatalf("a job that was not sent carries class %s", ClassOf(r.Err))
			}
		case ClassOf(r.Err) == InvalidToken:
			invalid++
		default:
			t.Fatalf("unexpected result %+v", r)
		}
		assertNoSecrets(t, r.Err, r.Job.Message.PSID)
	}
	if invalid == 0 || invalid > 4 || invalid+notSent != len(jobs) {
		t.Fatalf("%d InvalidToken and %d not sent of %d; want at most one InvalidToken per worker and the rest not sent",
			invalid, notSent, len(jobs))
	}
	if e.Answered(0) != 0 {
		t.Fatal("the emulator delivered with a bad token")
	}
}

func TestSenderPausesAndResumesWithoutDuplicates(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{Latency: 20 * time.Millisecond})
	c := newTestClient(t, e.URL(), testToken, 0)
	s := newTestSender(t, c, SenderConfig{MessagesPerSecond: 100, Workers: 8})
	jobs := jobsFor(100, "pause")

	ctx, pause := context.WithCancel(context.Background())
	ch := make(chan Job)
	go func() {
		defer close(ch)
		for _, j := range jobs {
			select {
			case ch <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	handled := make(map[string]Result)
	var count atomic.Int32
	err := s.Run(ctx, ch, func(r Result) {
		mu.Lock()
		handled[r.Job.Key] = r
		mu.Unlock()
		if count.Add(1) == 20 {
			pause()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after pause = %v, want context.Canceled", err)
	}

	var resume []Job
	for _, j := range jobs {
		r, ok := handled[j.Key]
		switch {
		case !ok || errors.Is(r.Err, ErrNotSent):
			if n := e.CountFor(j.Message.PSID); n != 0 {
				t.Fatalf("%s is reported not sent but was delivered %d times", j.Key, n)
			}
			resume = append(resume, j)
		case r.Sent():
		default:
			t.Fatalf("unexpected result %+v", r)
		}
	}
	if len(resume) == 0 || len(resume) == len(jobs) {
		t.Fatalf("%d of %d jobs left after the pause; the test needs some on each side", len(resume), len(jobs))
	}

	results, err := s.SendAll(context.Background(), resume)
	if err != nil {
		t.Fatalf("resuming: %v", err)
	}
	for _, r := range results {
		if !r.Sent() {
			t.Fatalf("after resuming, %s: %v", r.Job.Key, r.Err)
		}
	}
	assertExactlyOnce(t, e, jobs)
}

func TestSenderKeepsSeveralRequestsInFlight(t *testing.T) {
	// At 100/s and 50 ms per request, one request at a time would cap the
	// rate at 20/s; the sender must overlap them.
	e := startEmulator(t, EmulatorConfig{Latency: 50 * time.Millisecond})
	c := newTestClient(t, e.URL(), testToken, 0)
	s := newTestSender(t, c, SenderConfig{MessagesPerSecond: 100, Workers: 16})
	jobs := jobsFor(60, "inflight")
	if _, err := s.SendAll(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().MaxInFlight; got < 3 {
		t.Fatalf("at most %d requests were in flight, want several", got)
	}
	assertExactlyOnce(t, e, jobs)
}

func TestSenderSlowsDownOnHighUsage(t *testing.T) {
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderAppUsage, `{"call_count":95,"total_cputime":10,"total_time":10}`)
		fmt.Fprint(w, `{"recipient_id":"p","message_id":"m_1"}`)
	}))
	c := newTestClient(t, url, testToken, 0)
	s := newTestSender(t, c, SenderConfig{MessagesPerSecond: 200})
	if _, err := s.SendAll(context.Background(), jobsFor(1, "usage")); err != nil {
		t.Fatal(err)
	}
	// 95 % is three quarters of the way from 80 % to 100 %.
	if got, want := s.Stats().Rate, 200*(1-0.75*0.75); got != want {
		t.Fatalf("rate at 95%% usage = %v, want %v", got, want)
	}
}

func BenchmarkSender(b *testing.B) {
	e := startEmulator(b, EmulatorConfig{Latency: 10 * time.Millisecond})
	c := newTestClient(b, e.URL(), testToken, 0)
	s := newTestSender(b, c, SenderConfig{})
	jobs := jobsFor(b.N, "bench")
	b.ResetTimer()
	start := time.Now()
	results, err := s.SendAll(context.Background(), jobs)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range results {
		if !r.Sent() {
			b.Fatalf("%s: %v", r.Job.Key, r.Err)
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(e.Stats().MaxInFlight), "max-in-flight")
}
