// Package unsubscribe serves the unsubscribe links that every broadcast
// message carries: https://<tenant host>/unsubscribe/<token>. The
// unsubscribe subcommand runs a Handler per tenant behind the tenant's
// Ingress.
//
// GET shows a confirmation page with a form and writes nothing, so that
// link scanners and previews cannot unsubscribe anyone. POST records
// leads.unsubscribed_at once (a later POST keeps the first time) and shows
// a confirmation. A token that is forged, truncated, altered or issued for
// another tenant gets a 400 page and no write. A valid token whose lead does
// not exist (erased, or never there) gets the same success page as any
// other, with no write, so the page reveals nothing about who is a lead.
//
// Pages are rendered with html/template and contain no personal data: no
// name, no PSID, not even the token (the form posts back to the page's own
// address). Every response is marked no-store, no-referrer (the token stays
// out of Referer headers), nosniff, not frameable, with a Content Security
// Policy that allows only the page's own inline style and forms posting to
// the same origin. Nothing here logs a token or a lead id; a server that
// logs requests should log RedactPath(r.URL.Path) instead of the path.
package unsubscribe
