package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"reflect"
	"strings"
	texttemplate "text/template"
	"time"
)

// Kind names one of the operator's e-mail notices.
type Kind string

// The notices the operator sends. All but KindPolicyPublished go to a
// tenant's admins; KindPolicyPublished goes to the users of the tenant's app.
const (
	KindTenantReady        Kind = "TenantReady"
	KindKeysRotated        Kind = "KeysRotated"
	KindCertificateRenewed Kind = "CertificateRenewed"
	KindErasureCompleted   Kind = "ErasureCompleted"
	KindPolicyPublished    Kind = "PolicyPublished"
	KindTenantOffboarded   Kind = "TenantOffboarded"
)

// Kinds lists every notice Kind.
var Kinds = []Kind{
	KindTenantReady, KindKeysRotated, KindCertificateRenewed,
	KindErasureCompleted, KindPolicyPublished, KindTenantOffboarded,
}

// templateFiles maps a Kind to the base name of its templates.
var templateFiles = map[Kind]string{
	KindTenantReady:        "tenant-ready",
	KindKeysRotated:        "keys-rotated",
	KindCertificateRenewed: "certificate-renewed",
	KindErasureCompleted:   "erasure-completed",
	KindPolicyPublished:    "policy-published",
	KindTenantOffboarded:   "tenant-offboarded",
}

//go:embed templates/*.tmpl
var templateFS embed.FS

// Notice is a rendered notice, ready to address.
type Notice struct {
	// Kind is what the notice is about.
	Kind Kind
	// Subject is the subject line.
	Subject string
	// Text is the plain-text body.
	Text string
	// HTML is the HTML body.
	HTML string
}

// Message addresses the notice to the given recipients.
func (n Notice) Message(to ...string) Message {
	return Message{To: to, Subject: n.Subject, Text: n.Text, HTML: n.HTML}
}

// noticeData is implemented by the data type of each Kind.
type noticeData interface {
	kind() Kind
	validate() error
}

// noticeTemplates are the parsed templates of one Kind.
type noticeTemplates struct {
	text *texttemplate.Template // defines "subject" and "text"
	html *htmltemplate.Template // defines "layout", "content" and "footer"
}

var templates = mustParseTemplates()

func templateFuncs() map[string]any {
	return map[string]any{
		// date formats an instant for a reader anywhere: in UTC, unambiguous.
		"date": func(t time.Time) string { return t.UTC().Format("2 January 2006 15:04 UTC") },
		// day formats a calendar day.
		"day": func(t time.Time) string { return t.UTC().Format("2 January 2006") },
	}
}

func mustParseTemplates() map[Kind]noticeTemplates {
	out := make(map[Kind]noticeTemplates, len(templateFiles))
	for kind, base := range templateFiles {
		text := texttemplate.Must(texttemplate.New(base).Funcs(templateFuncs()).Option("missingkey=error").
			ParseFS(templateFS, "templates/"+base+".txt.tmpl"))
		html := htmltemplate.Must(htmltemplate.New(base).Funcs(templateFuncs()).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+base+".html.tmpl"))
		out[kind] = noticeTemplates{text: text, html: html}
	}
	return out
}

// Render renders the notice kind from data, which must be the Kind's own
// data type (TenantReadyData for KindTenantReady, and so on) or a pointer to
// it. Those types have no field for personal data; any other type is
// refused, so that nothing else can reach a notice.
func Render(kind Kind, data any) (Notice, error) {
	tpl, ok := templates[kind]
	if !ok {
		return Notice{}, fmt.Errorf("mail: unknown notice kind %q", kind)
	}
	d, ok := data.(noticeData)
	if !ok || (reflect.ValueOf(data).Kind() == reflect.Pointer && reflect.ValueOf(data).IsNil()) {
		return Notice{}, fmt.Errorf("mail: notice %s needs %sData, not %T", kind, kind, data)
	}
	if d.kind() != kind {
		return Notice{}, fmt.Errorf("mail: notice %s needs %sData, not %T", kind, kind, data)
	}
	if err := d.validate(); err != nil {
		return Notice{}, fmt.Errorf("mail: notice %s: %w", kind, err)
	}

	var subject, text, html bytes.Buffer
	if err := tpl.text.ExecuteTemplate(&subject, "subject", data); err != nil {
		return Notice{}, fmt.Errorf("mail: rendering the subject of %s: %w", kind, err)
	}
	if err := tpl.text.ExecuteTemplate(&text, "text", data); err != nil {
		return Notice{}, fmt.Errorf("mail: rendering the text of %s: %w", kind, err)
	}
	if err := tpl.html.ExecuteTemplate(&html, "layout", data); err != nil {
		return Notice{}, fmt.Errorf("mail: rendering the HTML of %s: %w", kind, err)
	}
	return Notice{
		Kind:    kind,
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    strings.TrimSpace(text.String()) + "\n",
		HTML:    strings.TrimSpace(html.String()) + "\n",
	}, nil
}
