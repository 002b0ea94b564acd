package messenger

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// messageTags are the tags the Send API accepts with MESSAGE_TAG.
var messageTags = map[string]bool{
	"ACCOUNT_UPDATE":         true,
	"CONFIRMED_EVENT_UPDATE": true,
	"POST_PURCHASE_UPDATE":   true,
	"HUMAN_AGENT":            true,
}

// graphError is one answer of the Emulator that is not a delivery.
type graphError struct {
	status    int
	code      int
	subcode   int
	message   string
	transient bool
}

var (
	errTokenRequired = graphError{status: http.StatusBadRequest, code: codeTokenRequired,
		message: "An access token is required to request this resource."}
	errBadToken = graphError{status: http.StatusBadRequest, code: codeInvalidToken,
		message: "Invalid OAuth access token - Cannot parse access token"}
	errRateLimit = graphError{status: http.StatusBadRequest, code: codeRateLimit,
		message: "(#613) Calls to this api have exceeded the rate limit."}
	errUnavailable = graphError{status: http.StatusBadRequest, code: codeUnavailable, subcode: subcodePersonUnavailable,
		message: "(#551) This person isn't available right now."}
	errOutsideWindow = graphError{status: http.StatusBadRequest, code: codePermission, subcode: subcodeOutsideWindow,
		message: "(#10) This message is sent outside of allowed window."}
	errServer = graphError{status: http.StatusInternalServerError, code: codeService, transient: true,
		message: "An unexpected error has occurred. Please retry your request later."}
)

func errParam(format string, args ...any) graphError {
	return graphError{status: http.StatusBadRequest, code: 100,
		message: "(#100) " + fmt.Sprintf(format, args...)}
}

// Handler returns the Emulator's HTTP handler. It serves
// POST /{page-id}/messages, with or without a leading version segment
// (/v24.0/{page-id}/messages).
func (e *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{page}/messages", e.serveMessages)
	mux.HandleFunc("POST /{version}/{page}/messages", e.serveMessages)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeGraphError(w, graphError{status: http.StatusBadRequest, code: 2500,
			message: "Unknown path components: " + r.URL.Path})
	})
	return mux
}

func (e *Emulator) serveMessages(w http.ResponseWriter, r *http.Request) {
	page := r.PathValue("page")
	e.mu.Lock()
	e.requests++
	e.inFlight++
	e.maxInFlight = max(e.maxInFlight, e.inFlight)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.inFlight--
		e.mu.Unlock()
	}()
	req, gerr, ok := e.decode(r)
	var d Delivery
	if ok {
		d, gerr, ok = e.decide(page, req)
	}

	e.mu.Lock()
	latency := e.cfg.Latency
	usage := e.usageLocked(page)
	e.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	setUsageHeaders(w, page, usage)
	if !ok {
		writeGraphError(w, gerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(sendResponse{RecipientID: d.PSID, MessageID: d.MessageID})
}

// decode checks the token and parses and validates the request body.
func (e *Emulator) decode(r *http.Request) (sendRequest, graphError, bool) {
	token := bearerToken(r)
	if token == "" {
		e.count(errTokenRequired)
		return sendRequest{}, errTokenRequired, false
	}
	e.mu.Lock()
	valid := len(e.tokens) == 0 || e.tokens[token]
	e.mu.Unlock()
	if !valid {
		e.count(errBadToken)
		return sendRequest{}, errBadToken, false
	}

	var req sendRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponseBytes))
	if err != nil || json.Unmarshal(body, &req) != nil {
		g := errParam("Invalid JSON in the request body")
		e.count(g)
		return req, g, false
	}
	m := req.outgoing()
	if err := m.Validate(); err != nil {
		g := errParam("%s", strings.TrimPrefix(err.Error(), "messenger: "))
		e.count(g)
		return req, g, false
	}
	if m.MessagingType == MessagingTypeMessageTag && !messageTags[m.Tag] {
		g := errParam("Param tag must be one of {ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, HUMAN_AGENT}")
		e.count(g)
		return req, g, false
	}
	return req, graphError{}, true
}

// decide applies injected failures, the rate limit, availability and the
// 24-hour window, and records the delivery when all pass.
func (e *Emulator) decide(page string, req sendRequest) (Delivery, graphError, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.decided++
	m := req.outgoing()
	var g graphError
	switch {
	case e.inject5xx > 0:
		e.inject5xx--
		g = errServer
	case e.cfg.FailEvery > 0 && e.decided%e.cfg.FailEvery == 0:
		g = errServer
	case e.inject613 > 0:
		e.inject613--
		g = errRateLimit
	case !e.limiterLocked(page).Allow():
		g = errRateLimit
	case e.unavailable[m.PSID]:
		g = errUnavailable
	case e.outside[m.PSID] && m.MessagingType != MessagingTypeMessageTag:
		g = errOutsideWindow
	default:
		d := Delivery{
			PageID:        page,
			PSID:          m.PSID,
			MessagingType: m.MessagingType,
			Tag:           m.Tag,
			Text:          m.Text,
			Buttons:       m.Buttons,
			MessageID:     newMessageID(),
			At:            time.Now(),
		}
		e.deliveries = append(e.deliveries, d)
		e.perPSID[m.PSID]++
		return d, graphError{}, true
	}
	e.countLocked(g)
	return Delivery{}, g, false
}

func (e *Emulator) count(g graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.countLocked(g)
}

func (e *Emulator) countLocked(g graphError) {
	e.answered[g.code]++
	if g.status >= 500 {
		e.serverErrs++
	}
}

// limiterLocked returns page's token bucket; e.mu must be held.
func (e *Emulator) limiterLocked(page string) *rate.Limiter {
	l, ok := e.limiters[page]
	if !ok {
		limit := rate.Inf
		if e.cfg.RatePerSecond > 0 {
			limit = rate.Limit(e.cfg.RatePerSecond)
		}
		l = rate.NewLimiter(limit, e.cfg.burst())
		e.limiters[page] = l
	}
	return l
}

// usageLocked is how much of page's burst is used, in percent: 0 when the
// bucket is full, 100 when the next request would be throttled.
func (e *Emulator) usageLocked(page string) int {
	if e.cfg.RatePerSecond <= 0 {
		return 0
	}
	l := e.limiterLocked(page)
	burst := float64(l.Burst())
	used := (burst - l.Tokens()) / burst * 100
	return int(math.Round(min(max(used, 0), 100)))
}

func setUsageHeaders(w http.ResponseWriter, page string, pct int) {
	app, _ := json.Marshal(AppUsage{CallCount: pct, TotalCPUTime: pct / 2, TotalTime: pct / 2})
	buc, _ := json.Marshal(map[string][]map[string]any{
		page: {{
			"type":                            "messenger",
			"call_count":                      pct,
			"total_cputime":                   pct / 2,
			"total_time":                      pct / 2,
			"estimated_time_to_regain_access": 0,
		}},
	})
	w.Header().Set(HeaderAppUsage, string(app))
	w.Header().Set(HeaderBusinessUseCaseUsage, string(buc))
}

// graphErrorEnvelope is Graph's error body.
type graphErrorEnvelope struct {
	Error graphErrorJSON `json:"error"`
}

type graphErrorJSON struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode,omitempty"`
	IsTransient bool   `json:"is_transient,omitempty"`
	FBTraceID   string `json:"fbtrace_id"`
}

func writeGraphError(w http.ResponseWriter, g graphError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_request"`)
	w.WriteHeader(g.status)
	_ = json.NewEncoder(w).Encode(graphErrorEnvelope{Error: graphErrorJSON{
		Message:     g.message,
		Type:        "OAuthException",
		Code:        g.code,
		Subcode:     g.subcode,
		IsTransient: g.transient,
		FBTraceID:   newTraceID(),
	}})
}

// bearerToken returns the access token of r from the Authorization header
// (Bearer or OAuth scheme) or the access_token query parameter.
func bearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "OAuth")) {
			return strings.TrimSpace(token)
		}
	}
	return r.URL.Query().Get("access_token")
}
