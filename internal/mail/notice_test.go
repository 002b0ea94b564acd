package mail

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/mail/smtptest"
)

var (
	at   = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	next = time.Date(2026, 6, 12, 0, 0, 0, 0, time.UTC)
)

// sampleData has valid data for every Kind, and strings each rendering must
// contain.
var sampleData = map[Kind]struct {
	data any
	want []string
}{
	KindTenantReady: {
		TenantReadyData{Tenant: "acme", DisplayName: "Acme Bikes", URL: "https://acme.inboxchat.test"},
		[]string{"acme", "Acme Bikes", "https://acme.inboxchat.test"},
	},
	KindKeysRotated: {
		KeysRotatedData{Tenant: "acme", ActiveKeyID: "k-0007", RotatedAt: at, NextRotation: next},
		[]string{"acme", "k-0007", "14 March 2026 09:26 UTC", "12 June 2026"},
	},
	KindCertificateRenewed: {
		CertificateRenewedData{Tenant: "acme", Host: "acme.inboxchat.test", Issuer: "letsencrypt-prod", NotAfter: next},
		[]string{"acme.inboxchat.test", "letsencrypt-prod", "12 June 2026 00:00 UTC"},
	},
	KindErasureCompleted: {
		ErasureCompletedData{
			Tenant: "acme", Request: "er-2026-0042", Mode: "ExportThenErase", CompletedAt: at,
			Stores: []StoreOutcome{
				{Name: "database", Erased: 137, Retained: 0},
				{Name: "security-log", Erased: 0, Retained: 12, RetainedReason: "security logs kept 30 days"},
			},
			Receipt: "sha256:4f2a9c",
		},
		[]string{"er-2026-0042", "ExportThenErase", "database", "137", "security-log", "12", "security logs kept 30 days", "sha256:4f2a9c"},
	},
	KindPolicyPublished: {
		PolicyPublishedData{
			Product: "Acme Bikes", Version: "2.1", Summary: "We keep login records for 30 days instead of 90.",
			EffectiveAt: next, DocumentURL: "https://acme.inboxchat.test/privacy/2.1", RequireReacceptance: true,
		},
		[]string{"Acme Bikes", "2.1", "30 days instead of 90", "12 June 2026", "https://acme.inboxchat.test/privacy/2.1", "accept the new policy"},
	},
	KindTenantOffboarded: {
		TenantOffboardedData{Tenant: "acme", Policy: "Erase", ExportTaken: true, ExportExpiresAt: next, CompletedAt: at, Receipt: "sha256:77aa"},
		[]string{"acme", "erased", "encrypted export", "kept until 12 June 2026", "sha256:77aa"},
	},
}

func TestRenderEveryKind(t *testing.T) {
	if len(sampleData) != len(Kinds) {
		t.Fatalf("sample data covers %d of %d kinds", len(sampleData), len(Kinds))
	}
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			sample := sampleData[kind]
			n, err := Render(kind, sample.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if n.Kind != kind || n.Subject == "" || strings.ContainsAny(n.Subject, "\r\n") {
				t.Fatalf("subject %q of kind %s", n.Subject, n.Kind)
			}
			if !strings.HasPrefix(n.HTML, "<!DOCTYPE html>") {
				t.Fatalf("HTML does not start with a doctype: %.60q", n.HTML)
			}
			for _, body := range []string{n.Text, n.HTML} {
				if strings.Contains(body, "<no value>") || strings.Contains(body, "{{") {
					t.Fatalf("unrendered placeholder in %q", body)
				}
				for _, w := range sample.want {
					if !strings.Contains(body, w) {
						t.Fatalf("body lacks %q:\n%s", w, body)
					}
				}
			}
			// A pointer to the data renders the same.
			p := reflect.New(reflect.TypeOf(sample.data))
			p.Elem().Set(reflect.ValueOf(sample.data))
			if n2, err := Render(kind, p.Interface()); err != nil || n2 != n {
				t.Fatalf("rendering from a pointer: %v", err)
			}
		})
	}
}

func TestRenderOptionalParts(t *testing.T) {
	n, err := Render(KindTenantOffboarded, TenantOffboardedData{Tenant: "acme", Policy: "Retain", CompletedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(n.Text, "retained") || strings.Contains(n.Text, "Receipt") || strings.Contains(n.Text, "erased") {
		t.Fatalf("a Retain offboarding without receipt:\n%s", n.Text)
	}
	n, err = Render(KindErasureCompleted, ErasureCompletedData{Tenant: "acme", Request: "er-1", Mode: "Erase", DryRun: true, CompletedAt: at, Receipt: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(n.Text, "dry run") || strings.Contains(n.Text, "queried again") {
		t.Fatalf("a dry run should say so and claim no verification:\n%s", n.Text)
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	d := sampleData[KindPolicyPublished].data.(PolicyPublishedData)
	d.Summary = `<script>alert("x")</script> & more`
	n, err := Render(KindPolicyPublished, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(n.HTML, "<script>") || !strings.Contains(n.HTML, "&lt;script&gt;") {
		t.Fatalf("the summary is not escaped in HTML:\n%s", n.HTML)
	}
	if !strings.Contains(n.Text, `<script>alert("x")</script> & more`) {
		t.Fatal("the text body should carry the summary as written")
	}
}

func TestRenderRefusesOtherData(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		data any
		want string
	}{
		{"an unknown kind", "Birthday", TenantReadyData{}, "unknown notice kind"},
		{"a map with personal data", KindErasureCompleted,
			map[string]any{"Tenant": "acme", "Email": "ana@example.org", "PSID": "123"}, "needs ErasureCompletedData"},
		{"another kind's data", KindKeysRotated, sampleData[KindTenantReady].data, "needs KeysRotatedData"},
		{"a nil pointer", KindTenantReady, (*TenantReadyData)(nil), "needs TenantReadyData"},
		{"nil", KindTenantReady, nil, "needs TenantReadyData"},
		{"missing fields", KindErasureCompleted, ErasureCompletedData{Tenant: "acme"}, "field Request is empty"},
		{"a store without a name", KindErasureCompleted,
			ErasureCompletedData{Tenant: "a", Request: "r", Mode: "Erase", CompletedAt: at, Receipt: "x", Stores: []StoreOutcome{{}}},
			"Stores[0].Name"},
		{"a script URL", KindPolicyPublished, func() any {
			d := sampleData[KindPolicyPublished].data.(PolicyPublishedData)
			d.DocumentURL = "javascript:alert(1)"
			return d
		}(), "DocumentURL is not an absolute"},
		{"an unknown offboarding policy", KindTenantOffboarded,
			TenantOffboardedData{Tenant: "a", Policy: "Delete", CompletedAt: at}, "not Erase or Retain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.kind, tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestNoticeDataHasNoPersonalFields guards the promise that notices carry
// no personal data: no data type may grow a field for it.
func TestNoticeDataHasNoPersonalFields(t *testing.T) {
	forbidden := map[string]bool{
		"email": true, "emails": true, "address": true, "to": true, "recipient": true, "recipients": true,
		"psid": true, "phone": true, "ip": true, "ipaddress": true, "userid": true, "leadid": true,
		"firstname": true, "lastname": true, "fullname": true, "username": true,
		"subject": true, "subjectid": true, "identifier": true, "fingerprint": true, "subjectfingerprint": true,
		"exportlocation": true, "location": true,
	}
	var check func(t reflect.Type, path string)
	check = func(typ reflect.Type, path string) {
		switch typ.Kind() {
		case reflect.Slice, reflect.Pointer:
			check(typ.Elem(), path+"[]")
			return
		case reflect.Struct:
		default:
			return
		}
		if typ == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			if forbidden[strings.ToLower(f.Name)] {
				t.Errorf("%s.%s looks like personal data; notices must not carry it", path, f.Name)
			}
			check(f.Type, path+"."+f.Name)
		}
	}
	for kind, s := range sampleData {
		check(reflect.TypeOf(s.data), string(kind))
	}
}

func TestNoticeThroughSMTP(t *testing.T) {
	srv := smtptest.New(t)
	m := newTestMailer(t, srv, TLSNone, "", "")
	n, err := Render(KindErasureCompleted, sampleData[KindErasureCompleted].data)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), n.Message("admin@tenant.test")); err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.WaitFor(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := msgs[0]
	if got.Subject != n.Subject || got.Text != n.Text || got.HTML != n.HTML {
		t.Fatalf("the notice changed on the way:\nsubject %q\ntext %q", got.Subject, got.Text)
	}
}
