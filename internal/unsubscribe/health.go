package unsubscribe

import (
	"context"
	"io"
	"net/http"
	"time"
)

// ready answers 200 when the database answers within a few seconds.
func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.DB.PingContext(ctx); err != nil {
		h.plain(w, r, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	h.plain(w, r, http.StatusOK, "ok")
}

// plain writes a short text/plain answer.
func (h *Handler) plain(w http.ResponseWriter, r *http.Request, status int, text string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		status, text = http.StatusMethodNotAllowed, "method not allowed"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	setCommonHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text+"\n")
}
