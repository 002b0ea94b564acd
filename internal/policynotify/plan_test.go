package policynotify

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// TestQueriesUseIndexes checks the plans of the statements a run makes per
// page and per user, on tables with realistic numbers of rows: a keyset page
// walks the users' primary key and probes the ledger's unique index; the
// ledger writes go through that index too.
func TestQueriesUseIndexes(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		// Four earlier versions went to everyone; v1 is half-way.
		ids := f.addUsers(4000, user{})
		for _, version := range []string{"v-3", "v-2", "v-1", "v0", "v1"} {
			n := len(ids)
			if version == "v1" {
				n = 2000
			}
			for start := 0; start < n; start += 500 {
				var b strings.Builder
				var args []any
				b.WriteString("INSERT INTO policy_notifications (version, user_id, state, attempted_at) VALUES ")
				for i, id := range ids[start : start+500] {
					if i > 0 {
						b.WriteString(", ")
					}
					b.WriteString("(?, ?, 'sent', ?)")
					args = append(args, version, id, testEffectiveAt)
				}
				f.exec(b.String(), args...)
			}
		}
		analyze := map[schema.Engine][]string{
			schema.Postgres: {"ANALYZE users", "ANALYZE policy_notifications"},
			schema.MySQL:    {"ANALYZE TABLE users", "ANALYZE TABLE policy_notifications"},
		}
		for _, q := range analyze[f.engine] {
			f.exec(q)
		}

		users := newUserDirectory(f.db, f.engine, "v1")
		ledger := newNotificationLedger(f.db, f.engine, "v1")
		for _, tt := range []struct {
			name, sql string
			args      []any
			want      []string
		}{
			{"keyset page", users.pageSQL, []any{1900, "v1", 500}, []string{"users_pkey|PRIMARY"}},
			{"claim", ledger.claimSQL, []any{"v1", testEffectiveAt, 3000}, []string{"users_pkey|PRIMARY"}},
			{"outcome", ledger.markSQL, []any{"sent", nil, testEffectiveAt, "v1", 3000}, []string{"policy_notifications_"}},
			{"counters", ledger.countsSQL, []any{"v1"}, []string{"policy_notifications_version_state_idx"}},
			{"unknown outcomes", ledger.unknownSQL, []any{"v1", ErrorCodeUnknownOutcome}, []string{"policy_notifications_version_state_idx"}},
		} {
			plan := explain(t, f.db, f.engine, tt.sql, tt.args...)
			for _, want := range tt.want {
				found := false
				for _, alt := range strings.Split(want, "|") {
					found = found || strings.Contains(plan, alt)
				}
				if !found {
					t.Errorf("the %s statement does not use %s:\n%s", tt.name, want, plan)
				}
			}
			if strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "\tALL\t") {
				t.Errorf("the %s statement scans a whole table:\n%s", tt.name, plan)
			}
		}
	})
}

// explain returns the plan of q, columns separated by tabs.
func explain(t *testing.T, db *sql.DB, engine schema.Engine, q string, args ...any) string {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if engine == schema.Postgres {
		// Plan with the values, as a custom plan, not a generic one.
		if _, err := conn.ExecContext(context.Background(), "SET plan_cache_mode = force_custom_plan"); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := conn.QueryContext(context.Background(), "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			b.WriteString(v.String + "\t")
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
