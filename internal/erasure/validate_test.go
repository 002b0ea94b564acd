package erasure

import (
	"context"
	"strings"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

func TestBadRequestsAreRefusedWithoutTheirValues(t *testing.T) {
	f := newFixture(t, engines[0])
	e := f.newEngine(t, Options{})
	const email = "jane@example.com"
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"no UID", Request{Subject: Subject{Kind: datamap.User, Email: email}}, "request UID"},
		{"UID with a slash", Request{UID: "../etc", Subject: Subject{Kind: datamap.User, Email: email}}, "request UID"},
		{"UID too long", Request{UID: strings.Repeat("a", 65), Subject: Subject{Kind: datamap.User, Email: email}}, "request UID"},
		{"unknown mode", Request{UID: "u1", Mode: "Shred", Subject: Subject{Kind: datamap.User, Email: email}}, `mode "Shred"`},
		{"unknown kind", Request{UID: "u1", Subject: Subject{Kind: "Customer", Email: email}}, `kind "Customer"`},
		{"no identifier", Request{UID: "u1", Subject: Subject{Kind: datamap.User}}, "exactly one"},
		{"two identifiers", Request{UID: "u1", Subject: Subject{Kind: datamap.User, Email: email, ID: "1"}}, "exactly one"},
		{"e-mail of a lead", Request{UID: "u1", Subject: Subject{Kind: datamap.Lead, Email: email}}, "no e-mail identifier"},
		{"PSID of a user", Request{UID: "u1", Subject: Subject{Kind: datamap.User, PSID: "123"}}, "no PSID identifier"},
		{"id with a space", Request{UID: "u1", Subject: Subject{Kind: datamap.User, ID: "1 OR 1=1"}}, "without white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Run(context.Background(), tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), email) {
				t.Errorf("the error %q quotes the e-mail address", err)
			}
		})
	}
	if n := f.count(t, "SELECT COUNT(*) FROM erasure_ledger"); n != 0 {
		t.Errorf("refused requests wrote %d ledger rows", n)
	}
}

func TestNewRefusesMissingStores(t *testing.T) {
	f := newFixture(t, engines[0])
	for _, tc := range []struct {
		name   string
		change func(*Stores)
		want   string
	}{
		{"no database", func(s *Stores) { s.DB = nil }, "DB is nil"},
		{"unknown engine", func(s *Stores) { s.Engine = "oracle" }, `engine "oracle"`},
		{"no Redis for the sessions store", func(s *Stores) { s.Redis = nil }, `redis store "sessions"`},
		{"no files volume", func(s *Stores) { s.FilesRoot = "" }, `files store "files"`},
		{"no blind-index key", func(s *Stores) { s.BlindIndexKey = nil }, "BlindIndexKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.stores()
			tc.change(&s)
			if _, err := New(s, datamap.Default(), Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	bad := datamap.Default()
	bad.Stores[0].Collections[0].Key = "sess:*"
	if _, err := New(f.stores(), bad, Options{}); err == nil {
		t.Error("New accepted an invalid map")
	}
	s := f.stores()
	s.Engine = schema.MySQL // the map is fine; the engine only decides quoting
	if _, err := New(s, datamap.Default(), Options{}); err != nil {
		t.Errorf("New: %v", err)
	}
}
