package broadcast

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/messenger"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// Benchmark settings, from the environment:
//
//	INBOXCHAT_BENCH_LEADS   audience size (default 100000)
//	INBOXCHAT_BENCH_ENGINE  postgres (default) or mysql
//
// Run it alone, once:
//
//	go test -run '^$' -bench BenchmarkBroadcast -benchtime 1x -timeout 0 ./internal/broadcast/
const (
	benchRate    = 300
	benchLatency = 50 * time.Millisecond
)

// BenchmarkBroadcast sends to every lead at 300 messages a second through
// an emulator with 50 ms of latency and a per-Page limit of 300 a second,
// running in another process. It reports the achieved rate, the 613
// answers, and the worker's peak memory: VmHWM (peak RSS, reset after the
// setup) and the Go runtime's peak Sys.
func BenchmarkBroadcast(b *testing.B) {
	leads := 100_000
	if v := os.Getenv("INBOXCHAT_BENCH_LEADS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("INBOXCHAT_BENCH_LEADS=%q is not a positive number", v)
		}
		leads = n
	}
	engine := schema.Postgres
	if v := os.Getenv("INBOXCHAT_BENCH_ENGINE"); v != "" {
		engine = schema.Engine(v)
	}
	fx := newFixture(b, engine)
	start := time.Now()
	fx.bulkLeads(b, leads)
	b.Logf("%s: inserted %d leads in %v", engine, leads, time.Since(start).Round(time.Millisecond))
	emu := startEmulatorProcess(b, benchRate, benchLatency)
	client, err := messenger.NewClient(messenger.ClientConfig{GraphAPIURL: emu.url, PageID: testPage, AccessToken: testToken})
	if err != nil {
		b.Fatal(err)
	}

	iteration := 0
	for b.Loop() {
		iteration++
		name := fmt.Sprintf("bench-%d", iteration)
		cfg := fx.config(b, name)
		// The sender the worker gets from New with Client and Rate, built
		// here so that its statistics can be reported.
		cfg.Rate = benchRate
		sender, err := messenger.NewSender(client, messenger.SenderConfig{MessagesPerSecond: benchRate, Workers: cfg.withDefaults().SendWorkers})
		if err != nil {
			b.Fatal(err)
		}
		cfg.Sender = sender
		var frozenAt atomic.Pointer[time.Time]
		cfg.OnProgress = func(p Progress) {
			if frozenAt.Load() == nil {
				now := time.Now()
				frozenAt.Store(&now)
			}
		}
		r := mustNew(b, cfg)

		b.StopTimer()
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS()
		sampler := startMemSampler()
		b.StartTimer()

		began := time.Now()
		p, err := r.Run(context.Background())
		elapsed := time.Since(began)

		b.StopTimer()
		peakSys, peakHeap := sampler.stop()
		hwm := peakRSS()
		if err != nil {
			b.Fatalf("Run: %v", err)
		}
		st := emu.stats(b)
		if p.Sent != int64(leads) || st.Accepted < leads*iteration || st.Duplicates != 0 {
			b.Fatalf("progress %+v, emulator %+v: want every lead messaged once", p, st)
		}
		freeze := time.Duration(0)
		if f := frozenAt.Load(); f != nil {
			freeze = f.Sub(began)
		}
		b.ReportMetric(p.Rate, "msgs/s")
		b.ReportMetric(float64(p.Sent)/elapsed.Seconds(), "msgs/s-overall")
		b.ReportMetric(float64(st.ByCode[613]), "613s")
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(peakSys)/(1<<20), "peak-Sys-MiB")
		b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
		ss := sender.Stats()
		b.ReportMetric(ss.LowestRate, "lowest-rate")
		b.Logf("%s, %d leads: freeze %v, run %v, %.2f msgs/s while sending, %d answers 613, max %d in flight, "+
			"sender lowest rate %.1f/s, peak RSS %.1f MiB, peak Sys %.1f MiB",
			engine, leads, freeze.Round(time.Millisecond), elapsed.Round(time.Millisecond), p.Rate, st.ByCode[613], st.MaxInFlight,
			ss.LowestRate, float64(hwm)/(1<<20), float64(peakSys)/(1<<20))
		b.StartTimer()
	}
}

// bulkLeads inserts n opted-in leads, 1000 per statement, and refreshes the
// planner's statistics of leads, as a table that grew over time has them.
func (fx *fixture) bulkLeads(b testing.TB, n int) {
	b.Helper()
	const perStatement = 1000
	ctx := context.Background()
	now := time.Now().UTC()
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
	for done := 0; done < n; done += perStatement {
		k := min(perStatement, n-done)
		q := `INSERT INTO leads (id, page_id, psid_enc, psid_bidx, first_name_enc, last_name_enc, opted_in_at, opt_in_source, last_inbound_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat(row+", ", k), ", ")
		args := make([]any, 0, k*9)
		for range k {
			id := fx.nextID.Add(1)
			psid := "PSID-" + strconv.FormatInt(7_000_000_000+id, 10)
			first, last := "First"+strconv.FormatInt(id, 10), "Last"
			args = append(args, id, testPage,
				fx.seal(b, psid, LeadAssociatedData("psid", id)), crypto.BlindIndex(fx.bidxKey, "psid", psid),
				fx.seal(b, first, LeadAssociatedData("first_name", id)), fx.seal(b, last, LeadAssociatedData("last_name", id)),
				now.Add(-48*time.Hour), "messenger_conversation", now.Add(-time.Hour))
		}
		if _, err := fx.db.ExecContext(ctx, rebind(fx.engine, q), args...); err != nil {
			b.Fatalf("inserting leads: %v", err)
		}
	}
	analyze := "ANALYZE leads"
	if fx.engine == schema.MySQL {
		analyze = "ANALYZE TABLE leads"
	}
	rows, err := fx.db.QueryContext(ctx, analyze)
	if err != nil {
		b.Fatalf("analyzing leads: %v", err)
	}
	_ = rows.Close()
}

// resetPeakRSS resets the kernel's peak RSS (VmHWM) of this process.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns VmHWM in bytes, or 0 when it cannot be read.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// memSampler records the Go runtime's peak Sys and HeapInuse.
type memSampler struct {
	done          chan struct{}
	wg            sync.WaitGroup
	sys, heapPeak uint64
}

func startMemSampler() *memSampler {
	s := &memSampler{done: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.done:
				s.sample()
				return
			case <-t.C:
			}
		}
	})
	return s
}

func (s *memSampler) sample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.sys = max(s.sys, m.Sys)
	s.heapPeak = max(s.heapPeak, m.HeapInuse)
}

func (s *memSampler) stop() (sys, heap uint64) {
	close(s.done)
	s.wg.Wait()
	return s.sys, s.heapPeak
}
