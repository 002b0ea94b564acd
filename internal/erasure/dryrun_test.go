package erasure

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

func TestADryRunCountsAndChangesNothing(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			u, l := f.seedUser(t), f.seedLead(t)
			e := f.newEngine(t, Options{})
			for _, tc := range []struct {
				subject Subject
				want    []StoreResult
			}{
				{Subject{Kind: datamap.User, Email: u.email}, withExported(expectUser(u))},
				{Subject{Kind: datamap.Lead, PSID: l.psid}, withExported(expectLead(l))},
			} {
				before := f.snapshot(t)
				req := Request{UID: uid(t, "dry"), Subject: tc.subject, Mode: ExportThenErase, DryRun: true}
				dry, err := e.Run(ctx, req)
				if err != nil {
					t.Fatalf("dry run of a %s: %v", tc.subject.Kind, err)
				}
				if after := f.snapshot(t); after != before {
					t.Errorf("a dry run changed the stores (the ledger included):\n%s\nwas\n%s", after, before)
				}
				if !dry.DryRun || dry.Export != nil || !reflect.DeepEqual(dry.Stores, tc.want) {
					t.Errorf("dry run of a %s = %+v, want %+v, no export", tc.subject.Kind, dry, tc.want)
				}
				// The same request for real does what the dry run said.
				req.DryRun = false
				res, err := e.Run(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(res.Stores, dry.Stores) {
					t.Errorf("the real run of a %s = %+v, the dry run said %+v", tc.subject.Kind, res.Stores, dry.Stores)
				}
			}
		})
	}
}

func TestADryRunOfAnExportCountsWhatItWouldHold(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines[0])
	u := f.seedUser(t)
	res, err := f.newEngine(t, Options{}).Run(ctx, Request{UID: uid(t, "dry"), Subject: Subject{Kind: datamap.User, ID: strconv.FormatInt(u.id, 10)},
		Mode: Export, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if tot := res.Totals(); tot.Exported != 8+3+4 || tot.Erased != 0 || tot.Retained != 0 {
		t.Errorf("dry run of an export: totals %+v, want 15 exported and nothing erased or retained", tot)
	}
	if f.exists(t, "exports") {
		t.Error("a dry run wrote an export")
	}
}
