package erasure

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

func TestAnUnknownSubjectCompletesWithZero(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			u, l := f.seedUser(t), f.seedLead(t)
			e := f.newEngine(t, Options{})
			zero := []StoreResult{{Name: "sessions"}, {Name: "files"}, {Name: "database"}}
			for name, subject := range map[string]Subject{
				"unknown e-mail":  {Kind: datamap.User, Email: "nobody@example.com"},
				"unknown PSID":    {Kind: datamap.Lead, PSID: "000000000000"},
				"unknown user id": {Kind: datamap.User, ID: "987654321"},
				"unknown lead id": {Kind: datamap.Lead, ID: "987654321"},
				// MySQL compares '<id>abc' = <id> as true: such an id must
				// not reach the existing subject.
				"user id with a suffix": {Kind: datamap.User, ID: strconv.FormatInt(u.id, 10) + "abc"},
				"lead id with a zero":   {Kind: datamap.Lead, ID: "0" + strconv.FormatInt(l.id, 10)},
			} {
				for _, mode := range []Mode{ExportThenErase, Erase} {
					req := Request{UID: uid(t, "nobody"), Subject: subject, Mode: mode}
					res, err := e.Run(ctx, req)
					if err != nil {
						t.Fatalf("%s, %s: %v", name, mode, err)
					}
					if !reflect.DeepEqual(res.Stores, zero) || res.Export != nil {
						t.Errorf("%s, %s: %+v, want zero in every store and no export", name, mode, res)
					}
					again, err := e.Run(ctx, req)
					if err != nil || !reflect.DeepEqual(again, res) {
						t.Errorf("%s, %s: running it again = %+v, %v", name, mode, again, err)
					}
				}
				if got := f.userRows(t, u.id); got["users"] != 1 || got["security_log"] != 3 {
					t.Errorf("%s: the existing user lost rows: %v", name, got)
				}
				if got := f.leadRows(t, l.id); got["leads"] != 1 || got["messages"] != 3 {
					t.Errorf("%s: the existing lead lost rows: %v", name, got)
				}
			}
		})
	}
}
