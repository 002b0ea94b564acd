package unsubscribe

import "net/http"

// setPageHeaders sets the headers of every HTML response.
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	setCommonHeaders(h)
	h.Set("Content-Security-Policy", contentSecurityPolicy)
}

// setCommonHeaders sets the headers every response carries.
func setCommonHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}
