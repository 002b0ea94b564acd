package datamap

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
)

func TestDefaultMapIsValidAndKeepsItsPromises(t *testing.T) {
	m := Default()
	if again, err := Load(BuiltinYAML()); err != nil || again.Name != m.Name {
		t.Fatalf("BuiltinYAML does not load: %v", err)
	}
	user, err := m.Plan(User)
	if err != nil {
		t.Fatal(err)
	}
	lead, err := m.Plan(Lead)
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]Step{}
	for _, s := range append(slices.Clone(user.Steps), lead.Steps...) {
		steps[s.Store+"/"+s.Collection] = s
	}
	for _, want := range []struct {
		step   string
		action Action
	}{
		{"database/users", ActionDelete},
		{"database/leads", ActionDelete},
		{"database/messages", ActionDelete},
		{"database/lead_tags", ActionDelete},
		{"database/broadcast_deliveries", ActionDelete},
		{"database/policy_notifications", ActionDelete},
		{"database/uploads", ActionDelete},
		{"database/security_log", ActionRetain},
		{"sessions/sessions", ActionDelete},
		{"sessions/user_sessions", ActionDelete},
		{"files/user_uploads", ActionDelete},
		{"files/lead_uploads", ActionDelete},
	} {
		s, ok := steps[want.step]
		if !ok {
			t.Errorf("no erasure step for %s", want.step)
			continue
		}
		if s.Action != want.action {
			t.Errorf("%s: action %s, want %s", want.step, s.Action, want.action)
		}
	}
	for _, r := range steps["database/security_log"].Retained {
		if r.Reason != "security" || r.Period != "retention.securityLogs" || r.Since != "created_at" {
			t.Errorf("security_log.%s retained %+v, want reason security for retention.securityLogs since created_at", r.Field, r.Retention)
		}
	}
	if got := stepNames(user); got[0] != "sessions/sessions" || got[len(got)-1] != "database/users" {
		t.Errorf("User erasure order %v: want sessions destroyed first and the users row last", got)
	}
	if got := stepNames(lead); got[len(got)-1] != "database/leads" {
		t.Errorf("Lead erasure order %v: want the leads row last", got)
	}
	for kind, p := range map[SubjectKind]*Plan{User: user, Lead: lead} {
		if p.Lookup == nil || len(p.Lookup.Identities) != 2 || !p.Lookup.Identities[1].BlindIndex {
			t.Errorf("%s lookup %+v: want the id and a blind-indexed identifier", kind, p.Lookup)
		}
	}
	if !bytes.Equal(BuiltinYAML(), builtinYAML) {
		t.Error("BuiltinYAML differs from the embedded document")
	}
}

// appliedSchema returns a database of engine with the reference schema.
func appliedSchema(t *testing.T, engine schema.Engine) *sql.DB {
	t.Helper()
	dsn := storetest.Postgres
	if engine == schema.MySQL {
		dsn = storetest.MySQL
	}
	db, err := schema.Open(engine, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := schema.Apply(context.Background(), db, engine); err != nil {
		t.Fatalf("applying the reference schema: %v", err)
	}
	return db
}

// currentSchema is the information_schema filter for the test database.
var currentSchema = map[schema.Engine]string{
	schema.Postgres: "current_schema()",
	schema.MySQL:    "DATABASE()",
}

// tablesWithoutPersonalData are the reference tables the map leaves out.
var tablesWithoutPersonalData = []string{
	"schema_migrations", // versions
	"erasure_ledger",    // request UIDs and counts, never the subject
	"legal_holds",       // consulted through legalHolds, kept while a hold lasts
}

func TestDefaultMapMatchesTheReferenceSchema(t *testing.T) {
	for _, engine := range []schema.Engine{schema.Postgres, schema.MySQL} {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			db := appliedSchema(t, engine)
			m := Default()

			// table -> column -> nullable
			columns := map[string]map[string]bool{}
			rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, is_nullable FROM information_schema.columns WHERE table_schema = `+currentSchema[engine])
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var table, column, nullable string
				if err := rows.Scan(&table, &column, &nullable); err != nil {
					t.Fatal(err)
				}
				if columns[table] == nil {
					columns[table] = map[string]bool{}
				}
				columns[table][column] = nullable == "YES"
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}

			named := m.SQLColumns()
			for table, cols := range named {
				if columns[table] == nil {
					t.Errorf("the map names table %s, which the schema lacks", table)
					continue
				}
				for _, c := range cols {
					if _, ok := columns[table][c]; !ok {
						t.Errorf("the map names column %s.%s, which the schema lacks", table, c)
					}
				}
			}
			for table := range columns {
				if _, ok := named[table]; !ok && !slices.Contains(tablesWithoutPersonalData, table) {
					t.Errorf("table %s is in the schema but not in the data map: erasure would miss it", table)
				}
			}
			for _, s := range m.Stores {
				for _, c := range s.Collections {
					for _, f := range c.Fields {
						if f.Strategy == Null && !columns[c.Name][f.Name] {
							t.Errorf("%s.%s has strategy null but is NOT NULL in the schema", c.Name, f.Name)
						}
					}
				}
			}

			// Every foreign key between mapped tables must be a reference,
			// or erasure could delete a parent before its children.
			references := map[string]bool{}
			for _, s := range m.Stores {
				for _, c := range s.Collections {
					for _, r := range c.References {
						references[c.Name+"."+r.Field+" -> "+r.To] = true
					}
				}
			}
			for _, fk := range foreignKeys(t, db, engine) {
				if !references[fk] {
					t.Errorf("foreign key %s is not a reference in the data map", fk)
				}
			}
		})
	}
}

// foreignKeys lists the schema's foreign keys as "table.column -> table.column".
func foreignKeys(t *testing.T, db *sql.DB, engine schema.Engine) []string {
	t.Helper()
	q := `SELECT kcu.table_name, kcu.column_name, ccu.table_name, ccu.column_name
		FROM information_schema.table_constraints tc
		JOIN information_schema.key_column_usage kcu
		  ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
		JOIN information_schema.constraint_column_usage ccu
		  ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema
		WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()`
	if engine == schema.MySQL {
		q = `SELECT table_name, column_name, referenced_table_name, referenced_column_name
			FROM information_schema.key_column_usage
			WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var fks []string
	for rows.Next() {
		var table, column, refTable, refColumn string
		if err := rows.Scan(&table, &column, &refTable, &refColumn); err != nil {
			t.Fatal(err)
		}
		fks = append(fks, fmt.Sprintf("%s.%s -> %s.%s", table, column, refTable, refColumn))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(fks) == 0 {
		t.Fatal("found no foreign keys in the reference schema")
	}
	return fks
}

// bidx returns a 32-byte value filled with b.
func bidx(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// subjectFixture gives users 1 and 2 and leads 1 and 2 a row in every table.
var subjectFixture = []struct {
	q    string
	args []any
}{
	{"INSERT INTO users (id, email_enc, email_bidx) VALUES (1, 'e', ?), (2, 'e', ?)", []any{bidx(1), bidx(2)}},
	{"INSERT INTO leads (id, page_id, psid_enc, psid_bidx) VALUES (1, 'p', 'x', ?), (2, 'p', 'x', ?)", []any{bidx(1), bidx(2)}},
	{"INSERT INTO lead_tags (lead_id, tag) VALUES (1, 'vip'), (2, 'vip')", nil},
	{"INSERT INTO messages (lead_id, direction, text_enc) VALUES (1, 'inbound', 't'), (2, 'inbound', 't')", nil},
	{"INSERT INTO broadcast_deliveries (broadcast, lead_id, state) VALUES ('b', 1, 'sent'), ('b', 2, 'sent')", nil},
	{"INSERT INTO policy_notifications (version, user_id, state) VALUES ('v1', 1, 'sent'), ('v1', 2, 'sent')", nil},
	{"INSERT INTO security_log (user_id, ip_enc, event) VALUES (1, 'ip', 'login'), (2, 'ip', 'login')", nil},
	{"INSERT INTO uploads (user_id, path, size_bytes) VALUES (1, 'users/1/a', 1), (2, 'users/2/a', 1)", nil},
	{"INSERT INTO uploads (lead_id, path, size_bytes) VALUES (1, 'leads/1/a', 1), (2, 'leads/2/a', 1)", nil},
}

// TestDefaultPlanErasesTheReferenceSchemaInOrder runs the sql steps of the
// default plans as plain deletes against the real schema, whose foreign keys
// reject any parent deleted before its children, then re-queries each step.
func TestDefaultPlanErasesTheReferenceSchemaInOrder(t *testing.T) {
	for _, engine := range []schema.Engine{schema.Postgres, schema.MySQL} {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			db := appliedSchema(t, engine)
			for _, f := range subjectFixture {
				if _, err := db.ExecContext(ctx, rebind(engine, f.q), f.args...); err != nil {
					t.Fatalf("fixture %q: %v", f.q, err)
				}
			}
			m := Default()
			for _, kind := range SubjectKinds {
				p, err := m.Plan(kind)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range p.Steps {
					if s.StoreKind != SQL {
						continue
					}
					count := func(subject int) int {
						t.Helper()
						n, err := countRows(ctx, db, engine, s, subject)
						if err != nil {
							t.Fatalf("%s %s: counting %s: %v", kind, s.Action, s.Collection, err)
						}
						return n
					}
					switch s.Action {
					case ActionDelete:
						for _, r := range s.Routes {
							q := mustQuery(t, engine, "DELETE FROM %s WHERE %s = ?", s.Collection, r.Field)
							if _, err := db.ExecContext(ctx, q, 1); err != nil {
								t.Fatalf("erasing %s 1 from %s in plan order: %v", kind, s.Collection, err)
							}
						}
						if n := count(1); n != 0 {
							t.Errorf("%s 1 still has %d rows in %s after its delete step", kind, n, s.Collection)
						}
					case ActionRetain:
						if n := count(1); n == 0 {
							t.Errorf("%s 1 has no rows left in %s, which the map retains", kind, s.Collection)
						}
					default:
						t.Errorf("unexpected %s step for %s in the default map", s.Action, s.Collection)
					}
					if n := count(2); n == 0 {
						t.Errorf("erasing %s 1 removed %s 2's rows from %s", kind, kind, s.Collection)
					}
				}
			}
		})
	}
}

// countRows counts the rows of a step's collection that belong to subject,
// following the step's routes (the default map's sql routes have no hops).
func countRows(ctx context.Context, db *sql.DB, engine schema.Engine, s Step, subject int) (int, error) {
	var conds []string
	for _, r := range s.Routes {
		if len(r.Hops) > 0 {
			return 0, fmt.Errorf("route %+v has hops; this test follows direct routes only", r)
		}
		col, err := QuoteIdent(engine, r.Field)
		if err != nil {
			return 0, err
		}
		conds = append(conds, col+" = "+strconv.Itoa(subject))
	}
	table, err := QuoteIdent(engine, s.Collection)
	if err != nil {
		return 0, err
	}
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE "+strings.Join(conds, " OR ")).Scan(&n)
	return n, err
}

// mustQuery formats a query whose %s verbs are identifiers, quoting each.
func mustQuery(t *testing.T, engine schema.Engine, format string, idents ...string) string {
	t.Helper()
	args := make([]any, len(idents))
	for i, id := range idents {
		q, err := QuoteIdent(engine, id)
		if err != nil {
			t.Fatal(err)
		}
		args[i] = q
	}
	return rebind(engine, fmt.Sprintf(format, args...))
}

// rebind turns ? placeholders into $1, $2, ... for PostgreSQL.
func rebind(engine schema.Engine, q string) string {
	if engine != schema.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
