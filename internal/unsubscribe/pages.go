package unsubscribe

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
)

// pageStyle is the pages' only style; the Content Security Policy allows
// exactly this text by its hash.
const pageStyle = `body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#1c1c1c}` +
	`h1{font-size:1.4rem}button{font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:.4rem;background:#1c5fd4;color:#fff;cursor:pointer}`

// contentSecurityPolicy allows nothing but the inline style above and
// forms that post to the page's own origin.
var contentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

// page is what a page shows.
type page struct {
	Title   string
	Message string
	// Confirm adds the form that posts to the page's own address.
	Confirm bool
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{.Title}}</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- if .Confirm}}
<form method="post">
<button type="submit">Unsubscribe</button>
</form>
{{- end}}
</main>
</body>
</html>
`))

// The pages. None of them depends on who the lead is.
var (
	confirmPage = page{
		Title:   "Unsubscribe from messages",
		Message: "Do you want to stop receiving broadcast messages from us on Messenger? Confirm below.",
		Confirm: true,
	}
	donePage = page{
		Title:   "You are unsubscribed",
		Message: "You will not receive broadcast messages from us on Messenger any more.",
	}
	invalidPage = page{
		Title:   "This link is not valid",
		Message: "This unsubscribe link is incomplete or was changed. Open the complete link from the message you received.",
	}
	notFoundPage = page{
		Title:   "Page not found",
		Message: "There is nothing here.",
	}
	methodPage = page{
		Title:   "Method not allowed",
		Message: "This address accepts GET and POST only.",
	}
	errorPage = page{
		Title:   "Something went wrong",
		Message: "We could not record your request. Please try again in a few minutes.",
	}
)
