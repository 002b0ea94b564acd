package schema

import (
	"bytes"
	"context"
	"testing"
)

// stmt is one parameterised statement with ? placeholders.
type stmt struct {
	q    string
	args []any
}

// bidx returns a 32-byte blind index filled with b.
func bidx(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestConstraintsRejectBadRows(t *testing.T) {
	const (
		user = "INSERT INTO users (id, email_enc, email_bidx) VALUES (?, ?, ?)"
		lead = "INSERT INTO leads (id, page_id, psid_enc, psid_bidx) VALUES (?, ?, ?, ?)"
	)
	for _, tc := range []struct {
		name string
		ok   []stmt // must succeed, in order
		bad  stmt   // must fail
		want string // kind of violation
	}{
		{"users: one account per e-mail", []stmt{{user, []any{10, []byte("e"), bidx(10)}}},
			stmt{user, []any{11, []byte("e"), bidx(10)}}, "unique"},
		{"users: blind index is 32 bytes", nil,
			stmt{user, []any{12, []byte("e"), bidx(12)[:31]}}, "check"},
		{"leads: one lead per PSID and Page, the same PSID on another Page is fine", []stmt{
			{lead, []any{20, "page-a", []byte("p"), bidx(20)}},
			{lead, []any{21, "page-b", []byte("p"), bidx(20)}},
		}, stmt{lead, []any{22, "page-a", []byte("p"), bidx(20)}}, "unique"},
		{"leads: an opt-in needs its source", nil,
			stmt{"INSERT INTO leads (page_id, psid_enc, psid_bidx, opted_in_at) VALUES ('p', 'x', ?, '2026-01-01 00:00:00')", []any{bidx(23)}}, "check"},
		{"lead_tags: a tag once per lead", []stmt{{"INSERT INTO lead_tags (lead_id, tag) VALUES (1, 'vip')", nil}},
			stmt{"INSERT INTO lead_tags (lead_id, tag) VALUES (1, 'vip')", nil}, "unique"},
		{"broadcast_deliveries: one row per broadcast and lead", []stmt{
			{"INSERT INTO broadcast_deliveries (broadcast, lead_id, state) VALUES ('bc-1', 1, 'intent')", nil},
			{"INSERT INTO broadcast_deliveries (broadcast, lead_id, state) VALUES ('bc-2', 1, 'intent')", nil},
		}, stmt{"INSERT INTO broadcast_deliveries (broadcast, lead_id, state) VALUES ('bc-1', 1, 'sent')", nil}, "unique"},
		{"broadcast_deliveries: known states only", nil,
			stmt{"INSERT INTO broadcast_deliveries (broadcast, lead_id, state) VALUES ('bc-3', 1, 'maybe')", nil}, "check"},
		{"broadcast_deliveries: a skip has a reason", nil,
			stmt{"INSERT INTO broadcast_deliveries (broadcast, lead_id, state) VALUES ('bc-4', 1, 'skipped')", nil}, "check"},
		{"broadcast_deliveries: only existing leads", nil,
			stmt{"INSERT INTO broadcast_deliveries (broadcast, lead_id, state) VALUES ('bc-5', 999, 'intent')", nil}, "foreign key"},
		{"policy_notifications: one e-mail per version and user", []stmt{
			{"INSERT INTO policy_notifications (version, user_id, state) VALUES ('v1', 1, 'intent')", nil},
		}, stmt{"INSERT INTO policy_notifications (version, user_id, state) VALUES ('v1', 1, 'sent')", nil}, "unique"},
		{"erasure_ledger: one row per request, store and step", []stmt{
			{"INSERT INTO erasure_ledger (request, store, step, state) VALUES ('uid-1', 'database', 'messages', 'started')", nil},
		}, stmt{"INSERT INTO erasure_ledger (request, store, step, state) VALUES ('uid-1', 'database', 'messages', 'done')", nil}, "unique"},
		{"messages: only for existing leads", nil,
			stmt{"INSERT INTO messages (lead_id, direction) VALUES (999, 'inbound')", nil}, "foreign key"},
		{"messages: a lead with history cannot be deleted before its messages", []stmt{
			{lead, []any{30, "page-a", []byte("p"), bidx(30)}},
			{"INSERT INTO messages (lead_id, direction) VALUES (30, 'outbound')", nil},
		}, stmt{"DELETE FROM leads WHERE id = 30", nil}, "foreign key"},
		{"uploads: exactly one owner", nil,
			stmt{"INSERT INTO uploads (user_id, lead_id, path, size_bytes) VALUES (1, 1, 'users/1/a', 1)", nil}, "check"},
		{"legal_holds: a hold has a reason", nil,
			stmt{"INSERT INTO legal_holds (subject_kind, subject_id, reason) VALUES ('User', 1, '')", nil}, "check"},
	} {
		for _, engine := range engines {
			t.Run(string(engine)+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				db := appliedDB(t, engine)
				for _, s := range []stmt{{user, []any{1, []byte("e"), bidx(1)}}, {lead, []any{1, "page-a", []byte("p"), bidx(1)}}} {
					if _, err := db.ExecContext(ctx, rebind(engine, s.q), s.args...); err != nil {
						t.Fatalf("fixture %q: %v", s.q, err)
					}
				}
				for _, s := range tc.ok {
					if _, err := db.ExecContext(ctx, rebind(engine, s.q), s.args...); err != nil {
						t.Fatalf("valid statement %q failed: %v", s.q, err)
					}
				}
				_, err := db.ExecContext(ctx, rebind(engine, tc.bad.q), tc.bad.args...)
				if got := violation(err); got != tc.want {
					t.Errorf("%q: err = %v (%q violation), want a %s violation", tc.bad.q, err, got, tc.want)
				}
			})
		}
	}
}
