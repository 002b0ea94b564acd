package messenger

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// post sends a raw request to the emulator and decodes the JSON answer.
func post(t *testing.T, url, auth, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, resp.Header, out
}

func TestEmulatorErrorBodiesAreShapedLikeGraph(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{Unavailable: []string{"gone"}})
	endpoint := e.URL() + "/v24.0/" + testPage + "/messages"
	body := func(psid string) string {
		return fmt.Sprintf(`{"recipient":{"id":%q},"messaging_type":"UPDATE","message":{"text":"hi"}}`, psid)
	}
	tests := []struct {
		name     string
		auth     string
		body     string
		status   int
		code     float64
		wantKeys []string
	}{
		{"a bad token", "Bearer nope", body("p"), 400, 190, []string{"code", "fbtrace_id", "message", "type"}},
		{"no token", "", body("p"), 400, 104, []string{"code", "fbtrace_id", "message", "type"}},
		{"an unavailable person", "Bearer " + testToken, body("gone"), 400, 551,
			[]string{"code", "error_subcode", "fbtrace_id", "message", "type"}},
		{"broken JSON", "Bearer " + testToken, `{"recipient":`, 400, 100, []string{"code", "fbtrace_id", "message", "type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, out := post(t, endpoint, tt.auth, tt.body)
			if status != tt.status {
				t.Fatalf("HTTP %d, want %d", status, tt.status)
			}
			if keys := slices.Sorted(maps.Keys(out)); !slices.Equal(keys, []string{"error"}) {
				t.Fatalf("top-level keys %v, want only error", keys)
			}
			inner, _ := out["error"].(map[string]any)
			if keys := slices.Sorted(maps.Keys(inner)); !slices.Equal(keys, tt.wantKeys) {
				t.Fatalf("error keys %v, want %v", keys, tt.wantKeys)
			}
			if inner["code"] != tt.code || inner["type"] != "OAuthException" {
				t.Fatalf("error = %v, want code %v of type OAuthException", inner, tt.code)
			}
		})
	}
}

func TestEmulatorRoutes(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{})
	body := `{"recipient":{"id":"p1"},"messaging_type":"RESPONSE","message":{"text":"hi"}}`

	t.Run("without a version segment", func(t *testing.T) {
		status, _, out := post(t, e.URL()+"/"+testPage+"/messages", "Bearer "+testToken, body)
		if status != 200 || out["recipient_id"] != "p1" || out["message_id"] == "" {
			t.Fatalf("HTTP %d %v", status, out)
		}
	})
	t.Run("with the token as a query parameter", func(t *testing.T) {
		status, _, out := post(t, e.URL()+"/v24.0/"+testPage+"/messages?access_token="+testToken, "", body)
		if status != 200 {
			t.Fatalf("HTTP %d %v", status, out)
		}
	})
	t.Run("an unknown path", func(t *testing.T) {
		status, _, out := post(t, e.URL()+"/v24.0/"+testPage+"/feed", "Bearer "+testToken, body)
		inner, _ := out["error"].(map[string]any)
		if status != 400 || inner["code"] != float64(2500) {
			t.Fatalf("HTTP %d %v, want code 2500", status, out)
		}
	})
	if got := e.CountFor("p1"); got != 2 {
		t.Fatalf("CountFor(p1) = %d, want 2", got)
	}
}

func TestEmulatorRateLimitAndUsageHeaders(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{RatePerSecond: 0.5, Burst: 4})
	endpoint := e.URL() + "/" + testPage + "/messages"
	var lastUsage int
	for i := range 4 {
		status, h, out := post(t, endpoint, "Bearer "+testToken,
			fmt.Sprintf(`{"recipient":{"id":"p%d"},"messaging_type":"UPDATE","message":{"text":"x"}}`, i))
		if status != 200 {
			t.Fatalf("request %d within the burst: HTTP %d %v", i, status, out)
		}
		u, ok := ParseUsage(h, time.Now())
		if !ok {
			t.Fatalf("request %d: no usage headers", i)
		}
		if u.MaxPercent() < lastUsage {
			t.Fatalf("usage went down from %d to %d while the bucket drained", lastUsage, u.MaxPercent())
		}
		lastUsage = u.MaxPercent()
	}
	if lastUsage != 100 {
		t.Fatalf("usage with the bucket empty = %d, want 100", lastUsage)
	}
	status, _, out := post(t, endpoint, "Bearer "+testToken, `{"recipient":{"id":"p9"},"messaging_type":"UPDATE","message":{"text":"x"}}`)
	inner, _ := out["error"].(map[string]any)
	if status != 400 || inner["code"] != float64(613) {
		t.Fatalf("over the limit: HTTP %d %v, want code 613", status, out)
	}
	if got := e.Answered(613); got != 1 {
		t.Fatalf("Answered(613) = %d, want 1", got)
	}
	if st := e.Stats(); st.Requests != 5 || st.Accepted != 4 {
		t.Fatalf("stats = %+v, want 5 requests, 4 accepted", st)
	}
}

func TestEmulatorFailEvery(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{FailEvery: 3})
	c := newTestClient(t, e.URL(), testToken, 0)
	var failed int
	for i := range 9 {
		_, err := c.Send(context.Background(), Outgoing{PSID: fmt.Sprint("p", i), MessagingType: MessagingTypeUpdate, Text: "x"})
		if err != nil {
			if ClassOf(err) != Transient {
				t.Fatalf("injected failure is %v, want Transient", err)
			}
			failed++
		}
	}
	if failed != 3 || e.Stats().ServerErrors != 3 || e.Answered(0) != 6 {
		t.Fatalf("failed %d, stats %+v; want every third of 9 to fail", failed, e.Stats())
	}
}

func TestEmulatorRuntimeSettings(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{})
	c := newTestClient(t, e.URL(), testToken, 0)
	send := func() error {
		_, err := c.Send(context.Background(), Outgoing{PSID: "p", MessagingType: MessagingTypeUpdate, Text: "x"})
		return err
	}
	e.SetOutsideWindow("p", true)
	if ClassOf(send()) != OutsideWindow {
		t.Fatal("SetOutsideWindow(true) did not close the window")
	}
	e.SetOutsideWindow("p", false)
	e.SetUnavailable("p", true)
	if ClassOf(send()) != Unavailable {
		t.Fatal("SetUnavailable(true) did not take effect")
	}
	e.SetUnavailable("p", false)
	e.SetRateLimit(0.001, 1)
	if err := send(); err != nil {
		t.Fatalf("first request within a burst of 1: %v", err)
	}
	if ClassOf(send()) != RateLimited {
		t.Fatal("SetRateLimit did not take effect")
	}
	e.SetRateLimit(0, 0)
	if err := send(); err != nil {
		t.Fatalf("after lifting the limit: %v", err)
	}
	if got := e.CountFor("p"); got != 2 {
		t.Fatalf("CountFor = %d, want 2", got)
	}
}

func TestListenAndServeEmulator(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServeEmulator(ctx, EmulatorConfig{AccessTokens: []string{testToken}}, func(u string) { urls <- u })
	}()
	url := <-urls
	c := newTestClient(t, url, testToken, time.Second)
	if _, err := c.Send(ctx, Outgoing{PSID: "p", MessagingType: MessagingTypeUpdate, Text: "x"}); err != nil {
		t.Fatalf("Send to the standalone emulator: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ListenAndServeEmulator = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServeEmulator did not return after cancel")
	}
}
