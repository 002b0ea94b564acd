package datamap

import (
	"reflect"
	"slices"
	"testing"
)

// stepNames returns "store/collection" of each step.
func stepNames(p *Plan) []string {
	var names []string
	for _, s := range p.Steps {
		names = append(names, s.Store+"/"+s.Collection)
	}
	return names
}

func TestPlanErasesChildrenBeforeParentsAndTheRootLast(t *testing.T) {
	// Declared parents first, so the order must come from the references.
	m, err := Load([]byte(`
version: 1
stores:
  - name: db
    kind: sql
    collections:
      - name: accounts
        primaryKey: id
        identities: [{subject: User, identifier: id, field: id}]
        fields: [{name: email_enc, strategy: delete}]
      - name: threads
        primaryKey: id
        references: [{field: account_id, to: accounts.id}]
        fields: [{name: title_enc, strategy: delete}]
      - name: posts
        primaryKey: id
        references: [{field: thread_id, to: threads.id}]
        fields: [{name: body_enc, strategy: delete}]
      - name: reactions
        references: [{field: post_id, to: posts.id}, {field: account_id, to: accounts.id}]
        fields: [{name: emoji, strategy: delete}]
      - name: audit
        identities: [{subject: User, identifier: id, field: actor_id}]
        fields: [{name: actor_id, strategy: hash}, {name: ip, strategy: "null"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Plan(User)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"db/reactions", "db/posts", "db/threads", "db/audit", "db/accounts"}
	if got := stepNames(p); !slices.Equal(got, want) {
		t.Fatalf("erase order %v, want %v", got, want)
	}

	reactions := p.Steps[0]
	wantRoutes := []Route{
		{Hops: []Hop{{Field: "post_id", Collection: "posts", To: "id"}, {Field: "thread_id", Collection: "threads", To: "id"}}, Field: "account_id"},
		{Field: "account_id"},
	}
	if !reflect.DeepEqual(reactions.Routes, wantRoutes) {
		t.Errorf("reactions routes = %+v, want %+v", reactions.Routes, wantRoutes)
	}
	if got := p.Steps[2].Routes; !reflect.DeepEqual(got, []Route{{Field: "account_id"}}) {
		t.Errorf("threads routes = %+v, want the direct account_id", got)
	}
	audit := p.Steps[3]
	if audit.Action != ActionUpdate || !slices.Equal(audit.Hash, []string{"actor_id"}) || !slices.Equal(audit.Null, []string{"ip"}) {
		t.Errorf("audit step = %+v, want an update hashing actor_id and nulling ip", audit)
	}
	if p.Lookup == nil || p.Lookup.Collection != "accounts" || p.Lookup.PrimaryKey != "id" {
		t.Errorf("lookup = %+v, want the accounts table keyed by id", p.Lookup)
	}
}

func TestPlanOfTheTestMap(t *testing.T) {
	m := testMap(t)
	for _, tc := range []struct {
		kind  SubjectKind
		steps []string
	}{
		{User, []string{"database/security_log", "sessions/sessions", "sessions/user_sessions", "files/user_uploads", "database/users"}},
		{Lead, []string{"database/messages", "database/leads"}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			p, err := m.Plan(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if got := stepNames(p); !slices.Equal(got, tc.steps) {
				t.Errorf("steps %v, want %v", got, tc.steps)
			}
		})
	}

	p, err := m.Plan(User)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Step{}
	for _, s := range p.Steps {
		byName[s.Collection] = s
	}
	if s := byName["security_log"]; s.Action != ActionRetain || len(s.Retained) != 1 || s.Retained[0].Reason != "security" {
		t.Errorf("security_log step = %+v, want retained for security", s)
	}
	sessions := byName["sessions"]
	wantRoute := []Route{{Hops: []Hop{{Field: "session", Collection: "user_sessions", To: MembersField}}, Field: "userID"}}
	if !reflect.DeepEqual(sessions.Routes, wantRoute) || sessions.Pattern.String() != "sess:{session}" || sessions.Action != ActionDelete {
		t.Errorf("sessions step = %+v, want a delete of sess:{session} through the members of user_sessions", sessions)
	}
	if p.Lookup == nil || len(p.Lookup.Identities) != 2 || !p.Lookup.Identities[1].BlindIndex {
		t.Errorf("lookup = %+v, want users with id and the e-mail blind index", p.Lookup)
	}
}

func TestPlanWithoutDataForTheKind(t *testing.T) {
	m := testMap(t)
	m.Stores[0].Collections = m.Stores[0].Collections[:1] // users only
	p, err := m.Plan(Lead)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 0 || p.Lookup != nil {
		t.Errorf("plan for Lead = %+v, want no steps and no lookup", p)
	}
}

func TestPlanRejectsAnUnknownKindAndAnInvalidMap(t *testing.T) {
	m := testMap(t)
	if _, err := m.Plan("Customer"); err == nil {
		t.Error("Plan(Customer) succeeded")
	}
	m.Version = 0
	if _, err := m.Plan(User); err == nil {
		t.Error("Plan on an invalid map succeeded")
	}
}
