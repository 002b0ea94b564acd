package erasure

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

func TestEraseTenantErasesEverythingTheMapNames(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			for range 3 {
				f.seedUser(t)
				f.seedLead(t)
			}
			// An export, the ledger of an erasure, a legal hold that has
			// ended, and data the map does not name.
			if _, err := f.newEngine(t, Options{}).Run(ctx, Request{UID: uid(t, "before"), Subject: Subject{Kind: datamap.Lead, ID: "1"}, Mode: ExportThenErase}); err != nil {
				t.Fatal(err)
			}
			f.exec(t, "INSERT INTO legal_holds (subject_kind, subject_id, reason, held_until) VALUES ('User', 1, 'litigation', ?)", time.Now().UTC().Add(-time.Hour))
			if err := f.rdb.Set(ctx, "feature-flags", "on", 0).Err(); err != nil {
				t.Fatal(err)
			}
			f.writeFile(t, "README.txt", "not personal")
			ledgerRows := f.count(t, "SELECT COUNT(*) FROM erasure_ledger")

			res, err := EraseTenant(ctx, f.stores(), datamap.Default())
			if err != nil {
				t.Fatalf("EraseTenant: %v", err)
			}
			// 3 users (1 + 2 + 2 + 3 rows each) and 2 leads (1 + 2 + 3 + 2 + 1).
			want := []StoreResult{
				{Name: "sessions", Erased: 3 * 3},
				{Name: "files", Erased: 3*4 + 2*2},
				{Name: "database", Erased: 3*8 + 2*9},
				{Name: "exports", Erased: 1},
			}
			if !reflect.DeepEqual(res, want) {
				t.Errorf("EraseTenant = %+v\nwant %+v", res, want)
			}
			for _, table := range []string{"users", "leads", "lead_tags", "messages", "security_log", "uploads", "broadcast_deliveries", "policy_notifications"} {
				if n := f.count(t, "SELECT COUNT(*) FROM "+table); n != 0 {
					t.Errorf("%s still holds %d rows", table, n)
				}
			}
			if n := f.count(t, "SELECT COUNT(*) FROM erasure_ledger"); n != ledgerRows {
				t.Errorf("erasure_ledger holds %d rows, had %d: tables the map does not name must be left alone", n, ledgerRows)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM legal_holds"); n != 1 {
				t.Errorf("legal_holds holds %d rows, want the 1 left alone", n)
			}
			if keys := f.redisKeys(t); !reflect.DeepEqual(keys, []string{"feature-flags"}) {
				t.Errorf("Redis keys left: %v, want only the one the map does not name", keys)
			}
			for _, dir := range []string{"users", "leads", "exports"} {
				entries, err := readDir(mustRoot(t, f.root), dir)
				if err != nil || len(entries) != 0 {
					t.Errorf("%s/ holds %d entries (%v), want none", dir, len(entries), err)
				}
			}
			if !f.exists(t, "README.txt") {
				t.Error("a file the map does not name was removed")
			}

			// Offboarding again finds nothing and succeeds.
			res, err = EraseTenant(ctx, f.stores(), datamap.Default())
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range res {
				if s.Erased != 0 || s.Remaining != 0 {
					t.Errorf("a second EraseTenant: %+v, want nothing erased or left", s)
				}
			}
		})
	}
}

// A legal hold in force stops the offboarding erasure: nothing is erased
// until the hold ends (or an export hands the data back, see
// TestExportTenantThenEraseTenantKeepingTheExport).
func TestEraseTenantRefusesWhileALegalHoldIsInForce(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			u := f.seedUser(t)
			f.seedLead(t)
			f.exec(t, "INSERT INTO legal_holds (subject_kind, subject_id, reason, held_until) VALUES ('Lead', ?, 'tax audit', ?)", 1, time.Now().UTC().Add(24*time.Hour))
			f.exec(t, "INSERT INTO legal_holds (subject_kind, subject_id, reason, held_until) VALUES ('User', ?, 'old case', ?)", u.id, time.Now().UTC().Add(-time.Hour))
			users, leads := f.count(t, "SELECT COUNT(*) FROM users"), f.count(t, "SELECT COUNT(*) FROM leads")

			res, err := EraseTenant(ctx, f.stores(), datamap.Default())
			var held *LegalHoldsError
			if !errors.As(err, &held) || held.Active != 1 || res != nil {
				t.Fatalf("EraseTenant with one hold in force = %+v, %v; want nothing and a LegalHoldsError counting 1", res, err)
			}
			if Scrub(err).Error() != err.Error() {
				t.Errorf("the refusal holds no values and must keep its message through Scrub: %q", Scrub(err))
			}
			if f.count(t, "SELECT COUNT(*) FROM users") != users || f.count(t, "SELECT COUNT(*) FROM leads") != leads {
				t.Fatal("a refused EraseTenant erased rows")
			}
			if keys := f.redisKeys(t); len(keys) == 0 {
				t.Error("a refused EraseTenant erased the sessions")
			}

			f.exec(t, "UPDATE legal_holds SET held_until = ?", time.Now().UTC().Add(-time.Minute))
			if _, err := EraseTenant(ctx, f.stores(), datamap.Default()); err != nil {
				t.Fatalf("EraseTenant once the holds ended: %v", err)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM users") + f.count(t, "SELECT COUNT(*) FROM leads"); n != 0 {
				t.Errorf("%d users and leads left after the holds ended", n)
			}
		})
	}
}
