package erasure

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

func TestSecurityLogsAreRetainedOnlyInsideTheirPeriod(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			u := f.seedUser(t)
			// A row just inside the period and one just past it.
			now := time.Now().UTC()
			if err := f.seeder.AddSecurityLog(ctx, u.id, "192.0.2.200", "login", now.Add(-securityLogs+time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := f.seeder.AddSecurityLog(ctx, u.id, "192.0.2.201", "login", now.Add(-securityLogs-time.Hour)); err != nil {
				t.Fatal(err)
			}
			res, err := f.newEngine(t, Options{}).Run(ctx, Request{UID: uid(t, "seclog"), Subject: Subject{Kind: datamap.User, Email: u.email}})
			if err != nil {
				t.Fatal(err)
			}
			db := res.Stores[2]
			if db.Retained != 3 || db.Erased != u.expectedDatabase+1 || db.RetainedReason != "security: security_log kept for 720h" || db.Remaining != 0 {
				t.Errorf("database = %+v, want 3 security-log rows retained for security and the 2 expired ones erased", db)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM security_log WHERE user_id = ?", u.id); n != 3 {
				t.Errorf("%d security-log rows left, want the 3 inside the period", n)
			}
		})
	}
}

func TestALegalHoldRetainsEverythingWithItsReason(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			held, released := f.seedUser(t), f.seedUser(t)
			heldLead := f.seedLead(t)
			f.exec(t, "INSERT INTO legal_holds (subject_kind, subject_id, reason) VALUES ('User', ?, 'litigation 2026-17')", held.id)
			f.exec(t, "INSERT INTO legal_holds (subject_kind, subject_id, reason, held_until) VALUES ('User', ?, 'tax audit', ?)", held.id, time.Now().UTC().Add(24*time.Hour))
			f.exec(t, "INSERT INTO legal_holds (subject_kind, subject_id, reason, held_until) VALUES ('User', ?, 'old case', ?)", released.id, time.Now().UTC().Add(-time.Hour))
			// Holds are per kind: a Lead hold does not hold the User with
			// that id, and the User holds above do not hold a Lead with the
			// held user's id.
			f.exec(t, "INSERT INTO legal_holds (subject_kind, subject_id, reason) VALUES ('Lead', ?, 'another kind')", released.id)
			e := f.newEngine(t, Options{})

			res, err := e.Run(ctx, Request{UID: uid(t, "held"), Subject: Subject{Kind: datamap.User, Email: held.email}})
			if err != nil {
				t.Fatal(err)
			}
			reason := "legal hold: litigation 2026-17; legal hold: tax audit"
			want := []StoreResult{
				{Name: "sessions", Retained: held.expectedSessions, RetainedReason: reason},
				{Name: "files", Retained: held.expectedFilePaths, RetainedReason: reason},
				{Name: "database", Retained: held.expectedDatabase + held.expectedRetained, RetainedReason: reason},
			}
			if !reflect.DeepEqual(res.Stores, want) {
				t.Errorf("held user: %+v\nwant %+v", res.Stores, want)
			}
			if got, want := f.userRows(t, held.id), map[string]int64{"users": 1, "policy_notifications": 2, "uploads": 2, "security_log": 3}; !reflect.DeepEqual(got, want) {
				t.Errorf("held user's rows = %v, want all %v kept", got, want)
			}
			if !f.exists(t, "users/"+strconv.FormatInt(held.id, 10)+"/cv.txt") || f.rdb.Exists(ctx, "user_sessions:"+strconv.FormatInt(held.id, 10)).Val() != 1 {
				t.Error("the held user's files or sessions were erased")
			}

			res, err = e.Run(ctx, Request{UID: uid(t, "released"), Subject: Subject{Kind: datamap.User, Email: released.email}})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Stores, expectUser(released)) {
				t.Errorf("user whose hold ended: %+v, want erased as usual", res.Stores)
			}
			res, err = e.Run(ctx, Request{UID: uid(t, "lead"), Subject: Subject{Kind: datamap.Lead, ID: strconv.FormatInt(heldLead.id, 10)}})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Stores, expectLead(heldLead)) {
				t.Errorf("lead without a Lead hold: %+v, want erased", res.Stores)
			}
		})
	}
}
