package erasure

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// errKilled stands for the worker being killed.
var errKilled = errors.New("killed")

// subjectCase seeds one subject and says what erasing it must report and
// how to check that it is gone.
type subjectCase struct {
	subject Subject
	want    []StoreResult
	gone    func(t *testing.T)
}

// seedCase seeds a subject of kind, identified by e-mail or PSID: after the
// root row is erased, a resumed run can no longer resolve it, the hardest
// case for resuming.
func (f *fixture) seedCase(t *testing.T, kind datamap.SubjectKind) subjectCase {
	t.Helper()
	if kind == datamap.User {
		u := f.seedUser(t)
		return subjectCase{Subject{Kind: kind, Email: u.email}, withExported(expectUser(u)), func(t *testing.T) {
			t.Helper()
			if got, want := f.userRows(t, u.id), map[string]int64{"users": 0, "policy_notifications": 0, "uploads": 0, "security_log": 2}; !reflect.DeepEqual(got, want) {
				t.Errorf("rows left of the user = %v, want %v", got, want)
			}
			for sid := range u.sessions {
				if f.rdb.Exists(context.Background(), "sess:"+sid).Val() != 0 {
					t.Error("a session survived")
				}
			}
			if f.exists(t, fmt.Sprintf("users/%d", u.id)) {
				t.Error("the user's folder survived")
			}
		}}
	}
	l := f.seedLead(t)
	return subjectCase{Subject{Kind: kind, PSID: l.psid}, withExported(expectLead(l)), func(t *testing.T) {
		t.Helper()
		for table, n := range f.leadRows(t, l.id) {
			if n != 0 {
				t.Errorf("%s still holds %d rows of the lead", table, n)
			}
		}
		if f.exists(t, fmt.Sprintf("leads/%d", l.id)) {
			t.Error("the lead's folder survived")
		}
	}}
}

func TestAWorkerKilledAfterAnyStepFinishesWithTheTrueTotals(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			for _, kind := range datamap.SubjectKinds {
				// A run that is not stopped names every point a kill can
				// hit. Batches of one key make the Redis steps stop between
				// two deletions.
				var points []string
				record := Options{BatchSize: 1, AfterStep: func(step string) error {
					if !slices.Contains(points, step) {
						points = append(points, step)
					}
					return nil
				}}
				c := f.seedCase(t, kind)
				res, err := f.newEngine(t, record).Run(ctx, Request{UID: uid(t, "full"), Subject: c.subject, Mode: ExportThenErase})
				if err != nil || !reflect.DeepEqual(res.Stores, c.want) {
					t.Fatalf("uninterrupted %s run = %+v, %v; want %+v", kind, res.Stores, err, c.want)
				}
				if len(points) < 8 || !slices.Contains(points, StepExport) || !slices.Contains(points, StepComplete) {
					t.Fatalf("the %s run stopped at too few points: %v", kind, points)
				}

				for _, point := range points {
					t.Run(string(kind)+"/"+point, func(t *testing.T) {
						c := f.seedCase(t, kind)
						req := Request{UID: uid(t, "kill"), Subject: c.subject, Mode: ExportThenErase}
						kill := Options{BatchSize: 1, AfterStep: func(step string) error {
							if step == point {
								return errKilled
							}
							return nil
						}}
						if _, err := f.newEngine(t, kill).Run(ctx, req); !errors.Is(err, ErrStopped) || !errors.Is(err, errKilled) {
							t.Fatalf("the run to kill after %s returned %v", point, err)
						}
						res, err := f.newEngine(t, Options{BatchSize: 1}).Run(ctx, req)
						if err != nil {
							t.Fatalf("the resumed run: %v", err)
						}
						if !reflect.DeepEqual(res.Stores, c.want) {
							t.Errorf("resumed after a kill after %s: stores = %+v\nwant %+v", point, res.Stores, c.want)
						}
						a := openExport(t, f, res, req.UID)
						checkManifest(t, a, res, req)
						c.gone(t)
						if f.exists(t, tombstoneDir+"/"+req.UID) {
							t.Error("the request's tombstone folder was left behind")
						}
						again, err := f.newEngine(t, Options{}).Run(ctx, req)
						if err != nil || !reflect.DeepEqual(again, res) {
							t.Errorf("a third run = %+v, %v; want the same result as the second", again, err)
						}
					})
				}
			}
		})
	}
}

func TestDataWrittenWhileARequestRunsIsCaughtByTheVerification(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			u := f.seedUser(t)
			// The app sends one more notice after its ledger step has run,
			// while the account still exists.
			late := Options{AfterStep: func(step string) error {
				if step == "database/uploads" {
					f.exec(t, "INSERT INTO policy_notifications (version, user_id, state) VALUES ('v3', ?, 'intent')", u.id)
				}
				return nil
			}}
			res, err := f.newEngine(t, late).Run(ctx, Request{UID: uid(t, "late"), Subject: Subject{Kind: datamap.User, Email: u.email}})
			if err != nil {
				t.Fatal(err)
			}
			want := expectUser(u)
			want[2].Erased++
			if !reflect.DeepEqual(res.Stores, want) {
				t.Errorf("stores = %+v, want %+v (the late row erased by the verification's repair)", res.Stores, want)
			}
			if got := f.userRows(t, u.id); got["policy_notifications"] != 0 {
				t.Errorf("rows left = %v", got)
			}
		})
	}
}
