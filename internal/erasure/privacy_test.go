package erasure

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
)

// personalData lists the values of a seeded user and lead that must never
// appear in logs, errors, the ledger or receipts.
func personalData(u seededUser, l seededLead) []string {
	out := []string{strings.TrimSpace(u.email), strings.ToLower(strings.TrimSpace(u.email)), u.name, l.psid, l.first}
	out = append(out, u.ips...)
	out = append(out, l.messages...)
	for sid := range u.sessions {
		out = append(out, sid)
	}
	for name := range u.files {
		out = append(out, name)
	}
	return out
}

// leaks returns the personal values found in s.
func leaks(s string, values []string) []string {
	var out []string
	for _, v := range values {
		if v != "" && strings.Contains(s, v) {
			out = append(out, v)
		}
	}
	return out
}

func TestNoPersonalDataInLogsErrorsLedgerOrReceipts(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			u, l := f.seedUser(t), f.seedLead(t)
			secrets := personalData(u, l)
			var logs bytes.Buffer
			e := f.newEngine(t, Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

			var seen strings.Builder
			for _, s := range []Subject{{Kind: datamap.User, Email: u.email}, {Kind: datamap.Lead, PSID: l.psid}} {
				res, err := e.Run(ctx, Request{UID: uid(t, "privacy"), Subject: s, Mode: ExportThenErase})
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&seen, "%s\n%+v\n%s\n", res.ReceiptPayload(), res, s)
			}
			// A failing run: a table of the map is missing.
			f.exec(t, "DROP TABLE lead_tags")
			l2 := f.seedLeadWithoutTags(t)
			_, err := e.Run(ctx, Request{UID: uid(t, "fails"), Subject: Subject{Kind: datamap.Lead, PSID: l2}})
			if err == nil {
				t.Fatal("a run against a database without lead_tags succeeded")
			}
			var se *StepError
			if !errors.As(err, &se) || se.Store != "database" || se.Step != "lead_tags" {
				t.Errorf("error %q: want a StepError naming database/lead_tags", err)
			}
			fmt.Fprintf(&seen, "%v\n", err)
			secrets = append(secrets, l2)

			rows, err := f.db.Query("SELECT request, store, step, state, COALESCE(retained_reason, '') FROM erasure_ledger")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var a, b, c, d, r string
				if err := rows.Scan(&a, &b, &c, &d, &r); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&seen, a, b, c, d, r)
			}
			rows.Close()
			seen.Write(logs.Bytes())
			for _, k := range f.redisKeys(t) {
				if strings.HasPrefix(k, counterPrefix) {
					fmt.Fprintln(&seen, k)
				}
			}
			if found := leaks(seen.String(), secrets); len(found) > 0 {
				t.Errorf("personal data in logs, errors, results, the ledger or Redis counters: %q\n%s", found, seen.String())
			}
			if !strings.Contains(logs.String(), "erased a step") {
				t.Error("the engine logged nothing: the check above proves nothing")
			}
		})
	}
}

// seedLeadWithoutTags inserts a lead without tags (for a database without
// lead_tags) and returns its PSID.
func (f *fixture) seedLeadWithoutTags(t *testing.T) string {
	t.Helper()
	f.seq++
	psid := fmt.Sprintf("99%010d", f.seq)
	f.noReuse(t, "leads")
	id, err := f.seeder.AddLead(context.Background(), fixturesLead(psid))
	if err != nil {
		t.Fatal(err)
	}
	f.lastID["leads"] = id
	return psid
}

func TestScrubKeepsCodesAndDropsValues(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		want      string
		forbidden string
	}{
		{"PostgreSQL error quoting a value", &pgconn.PgError{Code: "22P02", Message: `invalid input syntax for type bigint: "jane@example.com"`, TableName: "users"},
			"PostgreSQL error SQLSTATE 22P02 on table users", "jane@example.com"},
		{"PostgreSQL constraint", fmt.Errorf("exec: %w", &pgconn.PgError{Code: "23503", Message: "Key (lead_id)=(42) is still referenced", ConstraintName: "messages_lead_id_fkey"}),
			"PostgreSQL error SQLSTATE 23503 on constraint messages_lead_id_fkey", "Key (lead_id)"},
		{"MySQL error quoting a value", &mysql.MySQLError{Number: 1062, SQLState: [5]byte{'2', '3', '0', '0', '0'}, Message: "Duplicate entry 'jane@example.com' for key"},
			"MySQL error 1062 (SQLSTATE 23000)", "jane@example.com"},
		{"file error with a path", &fs.PathError{Op: "remove", Path: "users/42/passport_jane_doe.pdf", Err: fs.ErrPermission},
			"remove: permission denied", "passport_jane_doe"},
		{"unknown error", errors.New("cannot encode jane@example.com into int8"),
			"*errors.errorString error (message withheld: it may contain personal data)", "jane@example.com"},
		{"connection closed", sql.ErrConnDone, sql.ErrConnDone.Error(), "@"},
		{"cancelled", context.Canceled, context.Canceled.Error(), "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Scrub(tc.err)
			if got.Error() != tc.want || strings.Contains(got.Error(), tc.forbidden) {
				t.Errorf("Scrub(%q) = %q, want %q", tc.err, got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Error("the scrubbed error no longer wraps the original")
			}
			step := stepErr("database", "users", "deleting rows", tc.err)
			if !strings.HasPrefix(step.Error(), "database/users: deleting rows: ") || strings.Contains(step.Error(), tc.forbidden) {
				t.Errorf("step error %q", step)
			}
		})
	}
}

// fixturesLead is a lead without tags.
func fixturesLead(psid string) fixtures.Lead { return fixturesLeadOnPage(psid, "page-1") }

// fixturesLeadOnPage is a lead without tags on a Page.
func fixturesLeadOnPage(psid, page string) fixtures.Lead {
	return fixtures.Lead{PageID: page, PSID: psid, FirstName: "Ana", OptedIn: true}
}
