package messenger

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// testToken is distinctive so that a leak into any error text is caught.
const (
	testToken = "EAAGtestTOKEN-do-not-leak-4f1c9a"
	testPage  = "104857600000001"
)

func startEmulator(t testing.TB, cfg EmulatorConfig) *Emulator {
	t.Helper()
	if cfg.AccessTokens == nil {
		cfg.AccessTokens = []string{testToken}
	}
	e, err := NewEmulator(cfg)
	if err != nil {
		t.Fatalf("starting the emulator: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func newTestClient(t testing.TB, baseURL, token string, timeout time.Duration) *Client {
	t.Helper()
	cfg := ClientConfig{GraphAPIURL: baseURL, PageID: testPage, AccessToken: token}
	if timeout > 0 {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 128
		cfg.HTTPClient = &http.Client{Transport: tr, Timeout: timeout}
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// serve runs h on a loopback port until the test ends and returns its URL.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// assertNoSecrets fails when err, printed in any usual way, shows the token
// or one of the PSIDs.
func assertNoSecrets(t testing.TB, err error, psids ...string) {
	t.Helper()
	if err == nil {
		return
	}
	texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error())
	}
	for _, s := range texts {
		if strings.Contains(s, testToken) {
			t.Fatalf("error text contains the access token: %s", s)
		}
		for _, p := range psids {
			if p != "" && strings.Contains(s, p) {
				t.Fatalf("error text contains the PSID %q: %s", p, s)
			}
		}
	}
}

func asSendError(t testing.TB, err error) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SendError", err, err)
	}
	return se
}
