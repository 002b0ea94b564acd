package unsubscribe

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// Path is the path prefix the Handler serves tokens under.
const Path = "/unsubscribe/"

// Handler serves one tenant's unsubscribe links, plus /healthz (the
// process is up) and /readyz (the database answers). DB, Engine, Key and
// Tenant are required.
type Handler struct {
	// DB is the tenant's database with the reference schema.
	DB *sql.DB
	// Engine is DB's engine.
	Engine schema.Engine
	// Key is the tenant's unsubscribe key, the one broadcasts sign with.
	Key []byte
	// Tenant is the tenant name tokens must be issued for.
	Tenant string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger, optional, gets database failures. It never gets a token or
	// a lead id.
	Logger *slog.Logger
}

// writeTimeout bounds the database work of one request.
const writeTimeout = 10 * time.Second

// maxBodyBytes bounds the form body read from a POST.
const maxBodyBytes = 4 << 10

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/healthz":
		h.plain(w, r, http.StatusOK, "ok")
	case p == "/readyz":
		h.ready(w, r)
	case strings.HasPrefix(p, Path):
		h.unsubscribe(w, r, strings.TrimPrefix(p, Path))
	default:
		h.page(w, http.StatusNotFound, notFoundPage)
	}
}

// unsubscribe serves GET (confirm) and POST (record) of one token.
func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request, token string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.page(w, http.StatusMethodNotAllowed, methodPage)
		return
	}
	claims, err := crypto.VerifyUnsubscribe(h.Key, h.Tenant, token)
	if errors.Is(err, crypto.ErrTokenKey) {
		h.log().Error("the unsubscribe key is too short: check the tenant app secret")
		h.page(w, http.StatusInternalServerError, errorPage)
		return
	}
	if err != nil {
		h.page(w, http.StatusBadRequest, invalidPage)
		return
	}
	leadID, err := strconv.ParseInt(claims.LeadID, 10, 64)
	if err != nil || leadID <= 0 {
		// Correctly signed but not a lead id of this schema.
		h.page(w, http.StatusBadRequest, invalidPage)
		return
	}
	if r.Method != http.MethodPost {
		h.page(w, http.StatusOK, confirmPage)
		return
	}
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBodyBytes))
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	if err := recordUnsubscribe(ctx, h.DB, h.Engine, leadID, h.now()); err != nil {
		h.log().Error("recording an unsubscribe failed", "error", err)
		h.page(w, http.StatusServiceUnavailable, errorPage)
		return
	}
	h.page(w, http.StatusOK, donePage)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}
