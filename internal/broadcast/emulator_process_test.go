package broadcast

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

// emulatorProcessEnv makes TestEmulatorProcess serve an emulator instead of
// skipping; its value is "<rate per second>,<latency>".
const emulatorProcessEnv = "INBOXCHAT_BROADCAST_EMULATOR_PROCESS"

// emulatorStats is what the emulator process reports about itself.
type emulatorStats struct {
	Accepted    int         `json:"accepted"`
	ByCode      map[int]int `json:"byCode"`
	Duplicates  int         `json:"duplicates"`
	MaxInFlight int         `json:"maxInFlight"`
}

// TestEmulatorProcess is not a test: the benchmark runs the test binary
// again with emulatorProcessEnv set to serve the Send API emulator from
// another process, so that the emulator's record of every delivery does
// not count towards the worker's memory. It prints the emulator's URL and
// the URL of its statistics, then serves until its stdin closes.
func TestEmulatorProcess(t *testing.T) {
	spec := os.Getenv(emulatorProcessEnv)
	if spec == "" {
		t.Skip("only runs as the benchmark's emulator process")
	}
	rateText, latencyText, _ := strings.Cut(spec, ",")
	rate, err := strconv.ParseFloat(rateText, 64)
	if err != nil {
		t.Fatal(err)
	}
	latency, err := time.ParseDuration(latencyText)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := messenger.NewEmulator(messenger.EmulatorConfig{AccessTokens: []string{testToken}, RatePerSecond: rate, Latency: latency})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stats := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		st := emu.Stats()
		perPSID := map[string]int{}
		dups := 0
		for _, d := range emu.Deliveries() {
			if perPSID[d.PSID]++; perPSID[d.PSID] == 2 {
				dups++
			}
		}
		_ = json.NewEncoder(w).Encode(emulatorStats{Accepted: st.Accepted, ByCode: st.ByCode, Duplicates: dups, MaxInFlight: st.MaxInFlight})
	})}
	go func() { _ = stats.Serve(ln) }()
	defer stats.Close()
	fmt.Printf("EMULATOR %s http://%s\n", emu.URL(), ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// emulatorProcess is a running emulator process.
type emulatorProcess struct {
	url, statsURL string
	cmd           *exec.Cmd
	stdin         io.WriteCloser
}

// startEmulatorProcess runs the emulator in a child process with a per-Page
// rate limit and a latency.
func startEmulatorProcess(tb testing.TB, rate float64, latency time.Duration) *emulatorProcess {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestEmulatorProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%v,%s", emulatorProcessEnv, rate, latency))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &emulatorProcess{cmd: cmd, stdin: stdin}
	tb.Cleanup(p.stop)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "EMULATOR" {
			p.url, p.statsURL = f[1], f[2]
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return p
		}
	}
	tb.Fatalf("the emulator process did not start: %v", sc.Err())
	return nil
}

func (p *emulatorProcess) stats(tb testing.TB) emulatorStats {
	tb.Helper()
	resp, err := http.Get(p.statsURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var st emulatorStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		tb.Fatal(err)
	}
	return st
}

func (p *emulatorProcess) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}
