package datamap

import (
	"testing"

	"sigs.k8s.io/yaml"
)

// testMapYAML is a small valid map whose indexes the bad-map cases rely on:
//
//	stores[0] database (sql): collections users[0], leads[1], messages[2], security_log[3]
//	stores[1] sessions (redis): collections sessions[0], user_sessions[1]
//	stores[2] files (files): collections user_uploads[0]
const testMapYAML = `
version: 1
name: test
stores:
  - name: database
    kind: sql
    collections:
      - name: users
        primaryKey: id
        identities:
          - {subject: User, identifier: id, field: id}
          - {subject: User, identifier: email, field: email_bidx, blindIndex: true}
        fields:
          - {name: email_enc, strategy: delete}
      - name: leads
        primaryKey: id
        identities:
          - {subject: Lead, identifier: id, field: id}
        fields:
          - {name: psid_enc, strategy: delete}
      - name: messages
        primaryKey: id
        references:
          - {field: lead_id, to: leads.id}
        fields:
          - {name: text_enc, strategy: delete}
          - {name: lead_id, strategy: delete}
      - name: security_log
        identities:
          - {subject: User, identifier: id, field: user_id}
        fields:
          - {name: ip_enc, strategy: retain, reason: security, period: retention.securityLogs, since: created_at}
  - name: sessions
    kind: redis
    collections:
      - name: sessions
        key: "sess:{session}"
        references:
          - {field: session, to: user_sessions.members}
        strategy: delete
      - name: user_sessions
        key: "user_sessions:{userID}"
        type: set
        identities:
          - {subject: User, identifier: id, field: userID}
        strategy: delete
  - name: files
    kind: files
    collections:
      - name: user_uploads
        path: "users/{id}/"
        identities:
          - {subject: User, identifier: id, field: id}
        strategy: delete
`

// testMap returns a fresh copy of the test map, decoded without validation.
func testMap(t *testing.T) *Map {
	t.Helper()
	var m Map
	if err := yaml.UnmarshalStrict([]byte(testMapYAML), &m); err != nil {
		t.Fatalf("decoding the test map: %v", err)
	}
	return &m
}

func TestTheTestMapIsValid(t *testing.T) {
	if _, err := Load([]byte(testMapYAML)); err != nil {
		t.Fatalf("the test map is invalid:\n%v", err)
	}
}
