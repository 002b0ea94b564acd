//go:build linux

package policynotify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
	"github.com/inboxchat/inboxchat-operator/internal/mail/smtptest"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// benchWorkerEnv, when set, makes the test binary run one notify worker
// (the JSON benchWorker in the variable) instead of the tests, so that the
// benchmark measures the worker's memory apart from the SMTP server and the
// fixtures.
const benchWorkerEnv = "POLICYNOTIFY_BENCH_WORKER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(benchWorkerEnv); spec != "" {
		os.Exit(runBenchWorker(spec))
	}
	os.Exit(m.Run())
}

// benchWorker is what the worker process needs.
type benchWorker struct {
	Engine       schema.Engine
	DSN          string
	Keyring      map[string][]byte
	SMTPHost     string
	SMTPPort     int
	SMTPUser     string
	SMTPPassword string
	CAPEM        []byte
	Version      string
	Rate         float64
}

// benchResult is what the worker process reports on stdout.
type benchResult struct {
	Progress Progress
	Seconds  float64
	// PeakRSSKiB is the process's own peak resident set size (VmHWM). The
	// rusage of the child is no measure: Linux counts the parent's RSS at
	// the fork in the child's ru_maxrss.
	PeakRSSKiB int64
}

func runBenchWorker(spec string) int {
	var w benchWorker
	if err := json.Unmarshal([]byte(spec), &w); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	kr, err := crypto.KeyringFromSecretData(w.Keyring)
	if err != nil {
		return fail(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CAPEM)
	mailer, err := mail.NewMailer(mail.Settings{
		Host: w.SMTPHost, Port: w.SMTPPort, Username: w.SMTPUser, Password: w.SMTPPassword,
		From: smtpFrom, TLS: mail.TLSStartTLS,
	}, mail.WithTLSConfig(&tls.Config{RootCAs: pool, ServerName: w.SMTPHost, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return fail(err)
	}
	db, err := schema.Open(w.Engine, w.DSN)
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	n, err := New(Config{
		DB: db, Engine: w.Engine, Keyring: kr, Mailer: mailer,
		Version: w.Version, EffectiveAt: testEffectiveAt, DocumentURL: testURL, Summary: testSummary,
		Product: "Acme Chat", Rate: rate.Limit(w.Rate),
	})
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	p, err := n.Run(context.Background())
	if err != nil {
		return fail(err)
	}
	elapsed := time.Since(start)
	peak, err := peakRSSKiB()
	if err != nil {
		return fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(benchResult{Progress: p, Seconds: elapsed.Seconds(), PeakRSSKiB: peak}); err != nil {
		return fail(err)
	}
	return 0
}

// peakRSSKiB reads the process's peak resident set size from
// /proc/self/status.
func peakRSSKiB() (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// serverCertificatePEM fetches the certificate the server presents after
// STARTTLS, verified against its own pool, for the worker process to trust.
func serverCertificatePEM(tb testing.TB, srv *smtptest.Server) []byte {
	tb.Helper()
	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(srv.ClientTLSConfig()); err != nil {
		tb.Fatal(err)
	}
	state, ok := c.TLSConnectionState()
	if !ok || len(state.PeerCertificates) == 0 {
		tb.Fatal("smtptest presented no certificate")
	}
	_ = c.Quit()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: state.PeerCertificates[0].Raw})
}

// BenchmarkNotify mails 10,000 users at 50 messages/s over STARTTLS with
// AUTH, the worker in its own process, and reports the achieved rate and
// the worker's peak resident set size. One iteration takes about 200 s.
func BenchmarkNotify(b *testing.B) {
	const (
		users     = 10_000
		perSecond = 50.0
	)
	for _, engine := range engines {
		b.Run(string(engine), func(b *testing.B) {
			f := newFixture(b, engine)
			f.addUsers(users, user{})
			keyring, err := f.keyring.MarshalSecretData()
			if err != nil {
				b.Fatal(err)
			}
			w := benchWorker{
				Engine: engine, DSN: f.dsn, Keyring: keyring,
				SMTPHost: f.smtp.Host(), SMTPPort: f.smtp.Port(), SMTPUser: smtpUser, SMTPPassword: smtpPassword,
				CAPEM: serverCertificatePEM(b, f.smtp), Rate: perSecond,
			}
			var rates, peaks []float64
			b.ResetTimer()
			for i := range b.N {
				w.Version = fmt.Sprintf("bench-%d", i)
				spec, err := json.Marshal(w)
				if err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), benchWorkerEnv+"="+string(spec))
				cmd.Stderr = os.Stderr
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("worker process: %v", err)
				}
				var res benchResult
				if err := json.Unmarshal(out, &res); err != nil {
					b.Fatalf("worker output %q: %v", out, err)
				}
				if res.Progress.Sent != users || res.Progress.Failed != 0 {
					b.Fatalf("worker progress %+v, want %d sent", res.Progress, users)
				}
				rates = append(rates, float64(res.Progress.Sent)/res.Seconds)
				peaks = append(peaks, float64(res.PeakRSSKiB)/1024)
			}
			b.StopTimer()
			if got := len(f.smtp.Messages()); got != users*b.N {
				b.Fatalf("the server received %d messages, want %d", got, users*b.N)
			}
			b.ReportMetric(mean(rates), "mails/s")
			b.ReportMetric(maxOf(peaks), "peak-RSS-MiB")
		})
	}
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func maxOf(xs []float64) float64 {
	var m float64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
