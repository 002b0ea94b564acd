package messenger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultGraphAPIURL is the public Graph API, with the version this package
// was written against.
const DefaultGraphAPIURL = "https://graph.facebook.com/v24.0"

// DefaultTimeout bounds one Send API call when ClientConfig.HTTPClient is nil.
const DefaultTimeout = 30 * time.Second

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 1 << 20

// ClientConfig says which Page sends and where the Graph API is.
type ClientConfig struct {
	// GraphAPIURL is the Graph API base URL including the version, for
	// example DefaultGraphAPIURL or an Emulator's URL(). Default
	// DefaultGraphAPIURL.
	GraphAPIURL string
	// PageID is the Page that sends.
	PageID string
	// AccessToken is the Page access token. It is sent in the Authorization
	// header and never logged or put in an error.
	AccessToken string
	// HTTPClient makes the calls. Default: a client with DefaultTimeout and
	// enough idle connections per host for many requests in flight.
	HTTPClient *http.Client
}

// Client sends messages through the Messenger Send API for one Page. It is
// safe for concurrent use.
type Client struct {
	endpoint string
	// cred is a pointer so that printing a Client with %v or %+v shows an
	// address, not the token.
	cred *credential
	http *http.Client
	now  func() time.Time

	mu    sync.Mutex
	usage Usage
}

type credential struct {
	token string
}

// NewClient checks cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.PageID == "" {
		return nil, errors.New("messenger: page ID is empty")
	}
	if strings.ContainsAny(cfg.PageID, "/?#") {
		return nil, errors.New("messenger: page ID contains a URL delimiter")
	}
	if cfg.AccessToken == "" {
		return nil, errors.New("messenger: access token is empty")
	}
	base := cfg.GraphAPIURL
	if base == "" {
		base = DefaultGraphAPIURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("messenger: Graph API URL %q is not an absolute http(s) URL", base)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	return &Client{
		endpoint: strings.TrimRight(base, "/") + "/" + url.PathEscape(cfg.PageID) + "/messages",
		cred:     &credential{token: cfg.AccessToken},
		http:     hc,
		now:      time.Now,
	}, nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	return &http.Client{Transport: t, Timeout: DefaultTimeout}
}

// Send delivers m and returns the message ID Graph assigned. A failure is a
// *SendError.
func (c *Client) Send(ctx context.Context, m Outgoing) (messageID string, err error) {
	return c.send(ctx, m)
}

// Usage returns the rate-limit usage reported by the most recent response
// that carried usage headers, or a zero Usage before the first one.
func (c *Client) Usage() Usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usage
}

func (c *Client) send(ctx context.Context, m Outgoing) (string, error) {
	if err := m.Validate(); err != nil {
		return "", &SendError{Class: Permanent, Message: c.redact(err.Error(), m.PSID), cause: err}
	}
	body, err := json.Marshal(m.wire())
	if err != nil {
		return "", &SendError{Class: Permanent, Message: "encoding the request failed", cause: err}
	}

	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", &SendError{Class: Permanent, Message: "building the request failed", cause: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.cred.token)

	resp, err := c.http.Do(req)
	if err != nil {
		return "", c.transportError(err, m.PSID, wrote.Load())
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", c.transportError(err, m.PSID, true)
	}
	if u, ok := ParseUsage(resp.Header, c.now()); ok {
		c.mu.Lock()
		c.usage = u
		c.mu.Unlock()
	}

	if resp.StatusCode/100 == 2 {
		var ok sendResponse
		if err := json.Unmarshal(raw, &ok); err != nil || ok.MessageID == "" {
			// Graph accepted the call, so the message may well be out.
			return "", &SendError{
				Class: Transient, HTTPStatus: resp.StatusCode, MaybeDelivered: true,
				Message: "the response to a successful call has no message ID",
			}
		}
		return ok.MessageID, nil
	}
	return "", c.graphError(resp.StatusCode, raw, m.PSID)
}

// graphErrorBody is the error envelope every Graph API error uses.
type graphErrorBody struct {
	Error *struct {
		Message     string `json:"message"`
		Type        string `json:"type"`
		Code        int    `json:"code"`
		Subcode     int    `json:"error_subcode"`
		IsTransient bool   `json:"is_transient"`
		FBTraceID   string `json:"fbtrace_id"`
	} `json:"error"`
}

func (c *Client) graphError(status int, raw []byte, psid string) *SendError {
	var body graphErrorBody
	if json.Unmarshal(raw, &body) != nil || body.Error == nil {
		return &SendError{
			Class:      classify(status, 0, 0, false),
			HTTPStatus: status,
			Message:    fmt.Sprintf("HTTP %d without a Graph error body", status),
		}
	}
	g := body.Error
	return &SendError{
		Code:       g.Code,
		Subcode:    g.Subcode,
		Class:      classify(status, g.Code, g.Subcode, g.IsTransient),
		Message:    c.redact(g.Message, psid),
		HTTPStatus: status,
		FBTraceID:  g.FBTraceID,
	}
}

func (c *Client) transportError(err error, psid string, wrote bool) *SendError {
	return &SendError{
		Class:          Transient,
		Message:        c.redact(err.Error(), psid),
		MaybeDelivered: wrote,
		cause:          err,
	}
}

// redact removes the access token and the PSID from s and bounds its length.
func (c *Client) redact(s, psid string) string {
	s = strings.ReplaceAll(s, c.cred.token, "[token]")
	if psid != "" {
		s = strings.ReplaceAll(s, psid, "[psid]")
	}
	const maxRunes = 300
	if r := []rune(s); len(r) > maxRunes {
		s = string(r[:maxRunes]) + "…"
	}
	return s
}
