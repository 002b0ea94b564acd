package schema

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// indexedQuery is a query the workers run per subject or per page of a
// keyset scan. Literal values stand in for parameters; {bin} stands for a
// binary literal (a blind index).
type indexedQuery struct {
	name string
	sql  string
	// indexOnly: the query reads only indexed columns and must be answered
	// from the index alone.
	indexOnly bool
}

var indexedQueries = []indexedQuery{
	{"user by e-mail blind index", `SELECT id FROM users WHERE email_bidx = {bin}`, true},
	{"users keyset page", `SELECT id FROM users WHERE id > 100 ORDER BY id LIMIT 500`, true},
	{"lead by PSID blind index", `SELECT id FROM leads WHERE psid_bidx = {bin}`, true},
	{"lead by Page and PSID", `SELECT id FROM leads WHERE psid_bidx = {bin} AND page_id = 'p1'`, true},
	{"audience keyset page", `SELECT id FROM leads WHERE page_id = 'p1' AND id > 100 ORDER BY id LIMIT 500`, true},
	{"audience by tag keyset page", `SELECT lead_id FROM lead_tags WHERE tag = 't1' AND lead_id > 100 ORDER BY lead_id LIMIT 500`, true},
	{"tags of a lead", `SELECT tag FROM lead_tags WHERE lead_id = 1`, true},
	{"messages of a lead keyset page", `SELECT id FROM messages WHERE lead_id = 1 AND id > 100 ORDER BY id LIMIT 100`, true},
	{"security log of a user keyset page", `SELECT id FROM security_log WHERE user_id = 1 AND id > 100 ORDER BY id LIMIT 100`, true},
	{"security log pruning", `SELECT id FROM security_log WHERE created_at < '2000-01-01' ORDER BY created_at LIMIT 1000`, false},
	{"deliveries of a lead", `SELECT lead_id FROM broadcast_deliveries WHERE lead_id = 1`, true},
	{"delivery of a broadcast to a lead", `SELECT lead_id FROM broadcast_deliveries WHERE broadcast = 'b1' AND lead_id = 1`, true},
	{"delivery counters", `SELECT state, skip_reason, COUNT(*) FROM broadcast_deliveries WHERE broadcast = 'b1' GROUP BY state, skip_reason`, true},
	{"notifications of a user", `SELECT user_id FROM policy_notifications WHERE user_id = 1`, true},
	{"notification of a version to a user", `SELECT user_id FROM policy_notifications WHERE version = 'v1' AND user_id = 1`, true},
	{"notification counters", `SELECT state, COUNT(*) FROM policy_notifications WHERE version = 'v1' GROUP BY state`, true},
	{"erasure ledger of a request", `SELECT store, step FROM erasure_ledger WHERE request = 'r1'`, true},
	{"legal holds of a subject", `SELECT reason, held_until FROM legal_holds WHERE subject_kind = 'User' AND subject_id = 1`, false},
	{"uploads of a user keyset page", `SELECT id FROM uploads WHERE user_id = 1 AND id > 0 ORDER BY id LIMIT 100`, true},
	{"uploads of a lead keyset page", `SELECT id FROM uploads WHERE lead_id = 1 AND id > 0 ORDER BY id LIMIT 100`, true},
}

// indexFixture fills every table with a few thousand rows, so that the
// planner's statistics (and, on PostgreSQL, the visibility map) look like a
// live database's. seq(i) is a row source 1..20000.
var indexFixture = map[Engine][]string{
	Postgres: {`CREATE TEMPORARY TABLE seq AS SELECT i FROM generate_series(1, 20000) i`},
	MySQL: {
		`CREATE TEMPORARY TABLE seq (i INT NOT NULL PRIMARY KEY)`,
		`INSERT INTO seq (i) SELECT a.d * 10000 + b.d * 1000 + c.d * 100 + e.d * 10 + f.d + 1
		 FROM (SELECT 0 d UNION ALL SELECT 1) a,
		      (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b,
		      (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c,
		      (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) e,
		      (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) f`,
	},
}

// commonFixture is written in SQL both engines accept; {hash} is the
// engine's SHA-256 of seq.i and {ago} the engine's "i minutes ago".
var commonFixture = []string{
	`INSERT INTO users (email_enc, email_bidx) SELECT 'x', {hash} FROM seq WHERE i <= 5000`,
	`INSERT INTO leads (page_id, psid_enc, psid_bidx) SELECT CONCAT('p', i % 3), 'x', {hash} FROM seq WHERE i <= 5000`,
	`INSERT INTO lead_tags (lead_id, tag) SELECT id, CONCAT('t', id % 10) FROM leads`,
	`INSERT INTO messages (lead_id, direction) SELECT i % 5000 + 1, 'inbound' FROM seq`,
	`INSERT INTO security_log (user_id, event, created_at) SELECT i % 5000 + 1, 'login', {ago} FROM seq`,
	`INSERT INTO broadcast_deliveries (broadcast, lead_id, state) SELECT CASE WHEN i <= 5000 THEN 'b1' ELSE 'b2' END, (i - 1) % 5000 + 1, 'sent' FROM seq WHERE i <= 10000`,
	`INSERT INTO policy_notifications (version, user_id, state) SELECT CASE WHEN i <= 5000 THEN 'v1' ELSE 'v2' END, (i - 1) % 5000 + 1, 'sent' FROM seq WHERE i <= 10000`,
	`INSERT INTO erasure_ledger (request, store, step, state) SELECT CONCAT('r', i % 100), 'database', CONCAT('s', i), 'done' FROM seq WHERE i <= 1000`,
	`INSERT INTO legal_holds (subject_kind, subject_id, reason) SELECT 'User', i, 'litigation' FROM seq WHERE i <= 100`,
	`INSERT INTO uploads (user_id, path, size_bytes) SELECT i % 5000 + 1, 'users/x', 1 FROM seq WHERE i <= 2000`,
	`INSERT INTO uploads (lead_id, path, size_bytes) SELECT i % 5000 + 1, 'leads/x', 1 FROM seq WHERE i <= 2000`,
}

// dialect fills the fixture's and queries' engine-specific fragments.
var dialect = map[Engine]*strings.Replacer{
	Postgres: strings.NewReplacer("{hash}", "sha256(i::text::bytea)", "{ago}", "now() - i * interval '1 minute'", "{bin}", `'\x00'::bytea`),
	MySQL:    strings.NewReplacer("{hash}", "UNHEX(SHA2(i, 256))", "{ago}", "UTC_TIMESTAMP(6) - INTERVAL i MINUTE", "{bin}", "X'00'"),
}

// TestPerSubjectQueriesUseIndexes checks that every per-subject lookup and
// keyset page is served by an index, without a table scan or a sort, and
// from the index alone where it reads only indexed columns: the queries the
// workers run stay cheap at a million rows.
func TestPerSubjectQueriesUseIndexes(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			db := appliedDB(t, engine)
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var setup []string
			setup = append(setup, indexFixture[engine]...)
			for _, q := range commonFixture {
				setup = append(setup, dialect[engine].Replace(q))
			}
			switch engine {
			case Postgres:
				// Price out every plan that does not use an index: a
				// query that still gets one has no index serving it.
				setup = append(setup, "VACUUM ANALYZE", "SET enable_seqscan = off", "SET enable_bitmapscan = off", "SET enable_sort = off", "SET jit = off")
			case MySQL:
				setup = append(setup, "ANALYZE TABLE users, leads, lead_tags, messages, security_log, broadcast_deliveries, policy_notifications, erasure_ledger, legal_holds, uploads")
			}
			for _, q := range setup {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatalf("fixture %s: %v", q, err)
				}
			}
			for _, q := range indexedQueries {
				t.Run(q.name, func(t *testing.T) {
					query := dialect[engine].Replace(q.sql)
					var problem, plan string
					var err error
					switch engine {
					case Postgres:
						problem, plan, err = postgresPlanProblem(ctx, conn, query, q.indexOnly)
					case MySQL:
						problem, plan, err = mysqlPlanProblem(ctx, conn, query, q.indexOnly)
					}
					if err != nil {
						t.Fatalf("EXPLAIN %s: %v", query, err)
					}
					if problem != "" {
						t.Errorf("%s: %s\n%s", query, problem, plan)
					}
				})
			}
		})
	}
}

// postgresPlanProblem explains query and says what is wrong with its plan,
// if anything.
func postgresPlanProblem(ctx context.Context, conn *sql.Conn, query string, indexOnly bool) (problem, plan string, err error) {
	rows, err := conn.QueryContext(ctx, "EXPLAIN "+query)
	if err != nil {
		return "", "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", "", err
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		return "", "", err
	}
	plan = strings.Join(lines, "\n")
	for _, bad := range []string{"Seq Scan", "Bitmap", "Sort"} {
		if strings.Contains(plan, bad) {
			return "needs a " + bad + ": no index serves it", plan, nil
		}
	}
	if indexOnly && !strings.Contains(plan, "Index Only Scan") {
		return "is not answered from an index alone", plan, nil
	}
	return "", plan, nil
}

// mysqlPlanProblem explains query and says what is wrong with its plan, if
// anything.
func mysqlPlanProblem(ctx context.Context, conn *sql.Conn, query string, indexOnly bool) (problem, plan string, err error) {
	rows, err := conn.QueryContext(ctx, "EXPLAIN "+query)
	if err != nil {
		return "", "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", "", err
	}
	var lines []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", "", err
		}
		row := map[string]string{}
		var parts []string
		for i, c := range cols {
			row[c] = vals[i].String
			parts = append(parts, fmt.Sprintf("%s=%s", c, vals[i].String))
		}
		lines = append(lines, strings.Join(parts, " "))
		extra := row["Extra"]
		switch {
		case strings.Contains(extra, "Impossible WHERE noticed after reading const tables"),
			strings.Contains(extra, "no matching row in const table"):
			// Decided by a unique-index lookup of the missing value.
			continue
		case row["type"] == "ALL" || row["type"] == "index":
			problem = "scans " + row["table"] + " (type " + row["type"] + "): no index serves it"
		case row["key"] == "":
			problem = "uses no index on " + row["table"]
		case strings.Contains(extra, "filesort"):
			problem = "sorts: no index serves the order"
		case indexOnly && row["type"] != "const" && !strings.Contains(extra, "Using index"):
			problem = "is not answered from an index alone"
		}
	}
	return problem, strings.Join(lines, "\n"), rows.Err()
}
