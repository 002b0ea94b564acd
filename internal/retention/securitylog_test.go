package retention

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// TestSecurityLogBatchUsesTheCreatedAtIndex checks the plan of one batch on
// a table with a realistic number of rows: it must walk
// security_log_created_at_idx, not scan the table.
func TestSecurityLogBatchUsesTheCreatedAtIndex(t *testing.T) {
	forEngine(t, func(t *testing.T, f *fixture) {
		const rows, perInsert = 5000, 500
		for i := 0; i < rows; i += perInsert {
			var (
				b    strings.Builder
				args []any
			)
			b.WriteString("INSERT INTO security_log (user_id, event, created_at) VALUES ")
			for j := range perInsert {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, 'login', ?)")
				args = append(args, i+j, f.now.Add(-time.Duration(i+j)*time.Hour))
			}
			f.exec(b.String(), args...)
		}
		analyze := map[schema.Engine]string{schema.Postgres: "ANALYZE security_log", schema.MySQL: "ANALYZE TABLE security_log"}
		f.exec(analyze[f.engine])

		cutoff := f.now.Add(-time.Duration(rows-50) * time.Hour).Format("2006-01-02 15:04:05")
		q := fmt.Sprintf(securityLogBatchSQL[f.engine], 100)
		q = strings.NewReplacer("$1", "'"+cutoff+"'", "?", "'"+cutoff+"'").Replace(q)
		plan := explain(t, f.db, "EXPLAIN "+q)
		if !strings.Contains(plan, "security_log_created_at_idx") {
			t.Errorf("the batch does not use security_log_created_at_idx:\n%s", plan)
		}
		if strings.Contains(plan, "Seq Scan on security_log") || strings.Contains(plan, "\tALL\t") {
			t.Errorf("the batch scans the whole table:\n%s", plan)
		}
		if strings.Contains(plan, "Sort ") || strings.Contains(plan, "filesort") {
			t.Errorf("the batch sorts every row past retention instead of walking the index in order:\n%s", plan)
		}
	})
}

// explain runs an EXPLAIN and returns its rows, columns separated by tabs.
func explain(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
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
		for i, v := range vals {
			if i > 0 {
				b.WriteString("\t")
			}
			b.WriteString(v.String)
		}
		b.WriteString("\t\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
