package messenger

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestClientDelivers(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{})
	c := newTestClient(t, e.URL(), testToken, 0)
	ctx := context.Background()

	t.Run("a text message", func(t *testing.T) {
		id, err := c.Send(ctx, Outgoing{PSID: "psid-text", MessagingType: MessagingTypeResponse, Text: "Hi Ana"})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		ds := e.Deliveries()
		last := ds[len(ds)-1]
		if last.MessageID != id || !strings.HasPrefix(id, "m_") {
			t.Fatalf("returned ID %q, emulator recorded %q", id, last.MessageID)
		}
		if last.PSID != "psid-text" || last.Text != "Hi Ana" || last.MessagingType != MessagingTypeResponse || last.PageID != testPage {
			t.Fatalf("recorded delivery %+v", last)
		}
	})

	t.Run("a tagged button template", func(t *testing.T) {
		m := Outgoing{
			PSID: "psid-buttons", MessagingType: MessagingTypeMessageTag, Tag: "ACCOUNT_UPDATE", Text: "Your plan changed",
			Buttons: []Button{{Title: "Unsubscribe", URL: "https://acme.test/unsubscribe/abc"}},
		}
		if _, err := c.Send(ctx, m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		ds := e.Deliveries()
		last := ds[len(ds)-1]
		if last.Tag != "ACCOUNT_UPDATE" || len(last.Buttons) != 1 || last.Buttons[0] != m.Buttons[0] || last.Text != m.Text {
			t.Fatalf("recorded delivery %+v, want %+v", last, m)
		}
	})
}

func TestClientErrorClasses(t *testing.T) {
	const (
		outside     = "psid-outside-window"
		unavailable = "psid-unavailable"
		ordinary    = "psid-ordinary-5150"
	)
	e := startEmulator(t, EmulatorConfig{OutsideWindow: []string{outside}, Unavailable: []string{unavailable}})
	good := newTestClient(t, e.URL(), testToken, 0)
	update := func(psid string) Outgoing {
		return Outgoing{PSID: psid, MessagingType: MessagingTypeUpdate, Text: "news"}
	}

	tests := []struct {
		name          string
		client        *Client
		setup         func()
		msg           Outgoing
		class         ErrorClass
		code, subcode int
		status        int
	}{
		{
			name: "a bad token is InvalidToken", client: newTestClient(t, e.URL(), "EAAGwrong-token", 0),
			msg: update(ordinary), class: InvalidToken, code: 190, status: 400,
		},
		{
			name: "throttling is RateLimited", client: good, setup: func() { e.InjectRateLimit(1) },
			msg: update(ordinary), class: RateLimited, code: 613, status: 400,
		},
		{
			name: "a closed window is OutsideWindow", client: good,
			msg: update(outside), class: OutsideWindow, code: 10, subcode: 2018278, status: 400,
		},
		{
			name: "an unavailable person is Unavailable", client: good,
			msg: update(unavailable), class: Unavailable, code: 551, subcode: 1545041, status: 400,
		},
		{
			name: "a server error is Transient", client: good, setup: func() { e.InjectServerErrors(1) },
			msg: update(ordinary), class: Transient, code: 2, status: 500,
		},
		{
			name: "an unknown tag is Permanent", client: good,
			msg:   Outgoing{PSID: ordinary, MessagingType: MessagingTypeMessageTag, Tag: "PROMOTION", Text: "sale"},
			class: Permanent, code: 100, status: 400,
		},
		{
			name: "an invalid message is Permanent before any request", client: good,
			msg: Outgoing{PSID: ordinary, MessagingType: MessagingTypeUpdate}, class: Permanent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			before := e.CountFor(tt.msg.PSID)
			_, err := tt.client.Send(context.Background(), tt.msg)
			se := asSendError(t, err)
			if se.Class != tt.class || se.Code != tt.code || se.Subcode != tt.subcode || se.HTTPStatus != tt.status {
				t.Fatalf("got class %s code %d subcode %d HTTP %d, want %s %d %d HTTP %d (%v)",
					se.Class, se.Code, se.Subcode, se.HTTPStatus, tt.class, tt.code, tt.subcode, tt.status, err)
			}
			if se.MaybeDelivered {
				t.Fatal("a refused request is marked MaybeDelivered")
			}
			if got := e.CountFor(tt.msg.PSID); got != before {
				t.Fatalf("the emulator delivered %d messages for a refused request", got-before)
			}
			assertNoSecrets(t, err, tt.msg.PSID)
		})
	}

	t.Run("a tagged message reaches a person outside the window", func(t *testing.T) {
		_, err := good.Send(context.Background(), Outgoing{
			PSID: outside, MessagingType: MessagingTypeMessageTag, Tag: "ACCOUNT_UPDATE", Text: "Your account changed",
		})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
}

func TestClientTransportErrors(t *testing.T) {
	t.Run("a refused connection is Transient and surely not delivered", func(t *testing.T) {
		e := startEmulator(t, EmulatorConfig{})
		url := e.URL()
		_ = e.Close()
		c := newTestClient(t, url, testToken, time.Second)
		_, err := c.Send(context.Background(), Outgoing{PSID: "psid-refused", MessagingType: MessagingTypeUpdate, Text: "x"})
		se := asSendError(t, err)
		if se.Class != Transient || se.MaybeDelivered {
			t.Fatalf("got %s MaybeDelivered=%v, want Transient and not MaybeDelivered (%v)", se.Class, se.MaybeDelivered, err)
		}
		assertNoSecrets(t, err, "psid-refused")
	})

	t.Run("a timeout after sending is Transient and maybe delivered", func(t *testing.T) {
		e := startEmulator(t, EmulatorConfig{Latency: 2 * time.Second})
		c := newTestClient(t, e.URL(), testToken, 100*time.Millisecond)
		_, err := c.Send(context.Background(), Outgoing{PSID: "psid-slow", MessagingType: MessagingTypeUpdate, Text: "x"})
		se := asSendError(t, err)
		if se.Class != Transient || !se.MaybeDelivered {
			t.Fatalf("got %s MaybeDelivered=%v, want Transient and MaybeDelivered (%v)", se.Class, se.MaybeDelivered, err)
		}
		if e.CountFor("psid-slow") != 1 {
			t.Fatal("the emulator should have delivered the message the client gave up on; that is why it is MaybeDelivered")
		}
		assertNoSecrets(t, err, "psid-slow")
	})

	t.Run("a cancelled context is reported as such", func(t *testing.T) {
		e := startEmulator(t, EmulatorConfig{Latency: 2 * time.Second})
		c := newTestClient(t, e.URL(), testToken, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Send(ctx, Outgoing{PSID: "psid-cancel", MessagingType: MessagingTypeUpdate, Text: "x"})
		if !strings.Contains(err.Error(), "deadline exceeded") {
			t.Fatalf("Send = %v, want a deadline error", err)
		}
		assertNoSecrets(t, err, "psid-cancel")
	})

	t.Run("a 5xx without a Graph body is Transient", func(t *testing.T) {
		url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream connect error", http.StatusBadGateway)
		}))
		c := newTestClient(t, url, testToken, 0)
		_, err := c.Send(context.Background(), Outgoing{PSID: "p", MessagingType: MessagingTypeUpdate, Text: "x"})
		if se := asSendError(t, err); se.Class != Transient || se.HTTPStatus != 502 {
			t.Fatalf("got %v, want Transient HTTP 502", err)
		}
	})
}

func TestClientSendsTokenOnlyInTheAuthorizationHeader(t *testing.T) {
	var mu sync.Mutex
	var gotAuth, gotURL, gotBody string
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotAuth, gotURL, gotBody = r.Header.Get("Authorization"), r.URL.String(), string(b)
		mu.Unlock()
		// An error that echoes the request, as a misbehaving proxy might.
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"bad request %s for %s","type":"OAuthException","code":100,"fbtrace_id":"x"}}`,
			r.Header.Get("Authorization"), "psid-echo")
	}))
	c := newTestClient(t, url+"/v24.0", testToken, 0)
	_, err := c.Send(context.Background(), Outgoing{PSID: "psid-echo", MessagingType: MessagingTypeUpdate, Text: "x"})
	mu.Lock()
	defer mu.Unlock()
	if gotAuth != "Bearer "+testToken {
		t.Fatalf("Authorization header = %q, want the bearer token", gotAuth)
	}
	if gotURL != "/v24.0/"+testPage+"/messages" {
		t.Fatalf("request URL = %q, want the messages path without a query", gotURL)
	}
	if strings.Contains(gotBody, testToken) {
		t.Fatal("the request body contains the token")
	}
	assertNoSecrets(t, err, "psid-echo")
	if !strings.Contains(err.Error(), "[token]") || !strings.Contains(err.Error(), "[psid]") {
		t.Fatalf("error %q should show where the token and PSID were removed", err)
	}
}

func TestClientUsage(t *testing.T) {
	e := startEmulator(t, EmulatorConfig{RatePerSecond: 1, Burst: 4})
	c := newTestClient(t, e.URL(), testToken, 0)
	if !c.Usage().ObservedAt.IsZero() {
		t.Fatal("usage before any request should be zero")
	}
	for i := range 3 {
		if _, err := c.Send(context.Background(), Outgoing{PSID: fmt.Sprint("p", i), MessagingType: MessagingTypeUpdate, Text: "x"}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	u := c.Usage()
	if u.App == nil || len(u.Business) != 1 || u.Business[0].BusinessID != testPage {
		t.Fatalf("usage = %+v, want both headers for the Page", u)
	}
	if got := u.MaxPercent(); got < 50 {
		t.Fatalf("MaxPercent after using 3 of a burst of 4 = %d, want at least 50", got)
	}
}

func TestNewClient(t *testing.T) {
	tests := []struct {
		name string
		cfg  ClientConfig
		want string
	}{
		{"no page", ClientConfig{AccessToken: "t"}, "page ID is empty"},
		{"page with a slash", ClientConfig{PageID: "1/2", AccessToken: "t"}, "URL delimiter"},
		{"no token", ClientConfig{PageID: "1"}, "access token is empty"},
		{"relative URL", ClientConfig{PageID: "1", AccessToken: "t", GraphAPIURL: "graph.facebook.com"}, "not an absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewClient = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	c, err := NewClient(ClientConfig{PageID: "1", AccessToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if c.endpoint != DefaultGraphAPIURL+"/1/messages" {
		t.Fatalf("endpoint = %q", c.endpoint)
	}
	for _, format := range []string{"%v", "%+v", "%#v"} {
		if s := fmt.Sprintf(format, c); strings.Contains(s, testToken) {
			t.Fatalf("printing the client with %s shows the token", format)
		}
	}
}
