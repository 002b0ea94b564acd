package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// withExported sets each store's Exported to its Erased plus Retained: an
// export holds everything, the retained records included.
func withExported(stores []StoreResult) []StoreResult {
	out := slices.Clone(stores)
	for i := range out {
		out[i].Exported = out[i].Erased + out[i].Retained
	}
	return out
}

func TestExportThenEraseOfAUserFoundByEmail(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			u, other := f.seedUser(t), f.seedUser(t)
			e := f.newEngine(t, Options{})
			req := Request{UID: uid(t, "user"), Subject: Subject{Kind: datamap.User, Email: u.email}, Mode: ExportThenErase}

			res, err := e.Run(ctx, req)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if want := withExported(expectUser(u)); !reflect.DeepEqual(res.Stores, want) {
				t.Errorf("stores = %+v\nwant     %+v", res.Stores, want)
			}
			wantFP := crypto.SubjectFingerprint(f.bidxKey, "User/email", u.email)
			if res.Fingerprint != wantFP || res.Kind != datamap.User || res.Mode != ExportThenErase || res.DryRun {
				t.Errorf("result header = %+v, want fingerprint %s of a User, ExportThenErase", res, wantFP)
			}

			// The database keeps only the security-log rows inside the retention.
			if got, want := f.userRows(t, u.id), map[string]int64{"users": 0, "policy_notifications": 0, "uploads": 0, "security_log": 2}; !reflect.DeepEqual(got, want) {
				t.Errorf("rows left of the user = %v, want %v", got, want)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM security_log WHERE user_id = ? AND created_at < ?", u.id, time.Now().Add(-securityLogs)); n != 0 {
				t.Errorf("%d security-log rows past their retention were kept", n)
			}
			if got, want := f.userRows(t, other.id), map[string]int64{"users": 1, "policy_notifications": 2, "uploads": 2, "security_log": 3}; !reflect.DeepEqual(got, want) {
				t.Errorf("rows of another user = %v, want %v untouched", got, want)
			}
			// Sessions and the index set are gone; another user's stay.
			for sid := range u.sessions {
				if n := f.rdb.Exists(ctx, "sess:"+sid).Val(); n != 0 {
					t.Errorf("a session of the erased user still exists")
				}
			}
			if n := f.rdb.Exists(ctx, "user_sessions:"+strconv.FormatInt(u.id, 10)).Val(); n != 0 {
				t.Error("the erased user's session index set still exists")
			}
			for sid := range other.sessions {
				if n := f.rdb.Exists(ctx, "sess:"+sid).Val(); n != 1 {
					t.Error("another user's session was deleted")
				}
			}
			if f.exists(t, fmt.Sprintf("users/%d", u.id)) {
				t.Error("the erased user's folder still exists")
			}
			if !f.exists(t, fmt.Sprintf("users/%d/cv.txt", other.id)) {
				t.Error("another user's files were removed")
			}
			if f.exists(t, tombstoneDir+"/"+req.UID) {
				t.Error("the request's tombstone folder was left behind")
			}

			// The export decrypts and holds what was erased and retained.
			a := openExport(t, f, res, req.UID)
			checkManifest(t, a, res, req)
			users := collection(t, a, "database", "users")
			if len(users.Rows) != 1 || users.Rows[0]["email"] != strings.TrimSpace(u.email) || users.Rows[0]["name"] != u.name {
				t.Errorf("exported users rows = %v, want the decrypted e-mail and name", users.Rows)
			}
			var ips []string
			for _, row := range collection(t, a, "database", "security_log").Rows {
				ips = append(ips, fmt.Sprint(row["ip"]))
			}
			if !slices.Equal(ips, u.ips) {
				t.Errorf("exported security-log IPs = %v, want %v", ips, u.ips)
			}
			sessions := map[string]string{}
			for _, k := range collection(t, a, "sessions", "sessions").Keys {
				sessions[strings.TrimPrefix(k.Key, "sess:")] = fmt.Sprint(k.Value)
			}
			if !reflect.DeepEqual(sessions, u.sessions) {
				t.Errorf("exported sessions = %v, want %v", sessions, u.sessions)
			}
			files := map[string]string{}
			for _, file := range collection(t, a, "files", "user_uploads").Files {
				if file.Type == "file" {
					files[strings.TrimPrefix(file.Path, fmt.Sprintf("users/%d/", u.id))] = string(file.Content)
				}
			}
			if !reflect.DeepEqual(files, u.files) {
				t.Errorf("exported files = %v, want %v", files, u.files)
			}

			// Running the completed request again is harmless and says the same.
			before := f.snapshot(t)
			again, err := f.newEngine(t, Options{}).Run(ctx, req)
			if err != nil {
				t.Fatalf("second Run: %v", err)
			}
			if !reflect.DeepEqual(again, res) {
				t.Errorf("second Run = %+v\nwant the first %+v", again, res)
			}
			if string(again.ReceiptPayload()) != string(res.ReceiptPayload()) {
				t.Error("the receipt payload changed on the second run")
			}
			if after := f.snapshot(t); after != before {
				t.Errorf("the second Run changed the stores:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

func TestExportThenEraseOfALeadFoundByPSID(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			l, other := f.seedLead(t), f.seedLead(t)
			e := f.newEngine(t, Options{})
			req := Request{UID: uid(t, "lead"), Subject: Subject{Kind: datamap.Lead, PSID: l.psid}, Mode: ExportThenErase}

			res, err := e.Run(ctx, req)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if want := withExported(expectLead(l)); !reflect.DeepEqual(res.Stores, want) {
				t.Errorf("stores = %+v\nwant     %+v", res.Stores, want)
			}
			for table, n := range f.leadRows(t, l.id) {
				if n != 0 {
					t.Errorf("%s still holds %d rows of the erased lead", table, n)
				}
			}
			for table, n := range f.leadRows(t, other.id) {
				if n == 0 {
					t.Errorf("%s lost the rows of another lead", table)
				}
			}
			if f.exists(t, fmt.Sprintf("leads/%d", l.id)) || !f.exists(t, fmt.Sprintf("leads/%d/photo.jpg", other.id)) {
				t.Error("want the erased lead's folder gone and the other lead's kept")
			}

			a := openExport(t, f, res, req.UID)
			checkManifest(t, a, res, req)
			leads := collection(t, a, "database", "leads").Rows
			if len(leads) != 1 || leads[0]["psid"] != l.psid || leads[0]["first_name"] != l.first || leads[0]["last_name"] != l.last {
				t.Errorf("exported lead = %v, want the decrypted PSID and names", leads)
			}
			var texts []string
			for _, row := range collection(t, a, "database", "messages").Rows {
				texts = append(texts, fmt.Sprint(row["text"]))
			}
			if !slices.Equal(texts, l.messages) {
				t.Errorf("exported messages = %q, want %q", texts, l.messages)
			}
			var tags []string
			for _, row := range collection(t, a, "database", "lead_tags").Rows {
				tags = append(tags, fmt.Sprint(row["tag"]))
			}
			slices.Sort(tags)
			if !slices.Equal(tags, []string{"spring", "vip"}) {
				t.Errorf("exported tags = %v", tags)
			}
			photo := collection(t, a, "files", "lead_uploads").Files
			if len(photo) != 2 || string(photo[1].Content) != l.photo {
				t.Errorf("exported lead files = %+v, want the folder and the photo", photo)
			}
		})
	}
}

func TestEraseByInternalID(t *testing.T) {
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
				{Subject{Kind: datamap.User, ID: strconv.FormatInt(u.id, 10)}, expectUser(u)},
				{Subject{Kind: datamap.Lead, ID: strconv.FormatInt(l.id, 10)}, expectLead(l)},
			} {
				res, err := e.Run(ctx, Request{UID: uid(t, string(tc.subject.Kind)), Subject: tc.subject})
				if err != nil {
					t.Fatalf("%s: %v", tc.subject, err)
				}
				if !reflect.DeepEqual(res.Stores, tc.want) || res.Export != nil {
					t.Errorf("%s: stores = %+v, export %v; want %+v and no export", tc.subject, res.Stores, res.Export, tc.want)
				}
			}
		})
	}
}

func TestExportOnlyKeepsTheData(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines[0])
	u := f.seedUser(t)
	before := f.userRows(t, u.id)
	req := Request{UID: uid(t, "export"), Subject: Subject{Kind: datamap.User, Email: u.email}, Mode: Export}
	res, err := f.newEngine(t, Options{}).Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.userRows(t, u.id); !reflect.DeepEqual(got, before) {
		t.Errorf("an export changed the user's rows: %v, was %v", got, before)
	}
	tot := res.Totals()
	if tot.Erased != 0 || tot.Remaining != 0 || tot.Exported != 8+3+4 || res.Export == nil {
		t.Errorf("export-only totals = %+v, export %v; want 15 records exported, nothing erased", tot, res.Export)
	}
	openExport(t, f, res, req.UID)
}

// openExport reads the request's export, checks its digest and location,
// and decrypts it.
func openExport(t *testing.T, f *fixture, res Result, requestUID string) Archive {
	t.Helper()
	if res.Export == nil {
		t.Fatal("the result has no export")
	}
	if res.Export.Location != "exports/"+requestUID+".json.enc" {
		t.Errorf("export location %q", res.Export.Location)
	}
	sealed, err := os.ReadFile(filepath.Join(f.root, res.Export.Location))
	if err != nil {
		t.Fatalf("reading the export: %v", err)
	}
	sum := sha256.Sum256(sealed)
	if hex.EncodeToString(sum[:]) != res.Export.SHA256 {
		t.Errorf("the export's sha256 is %x, the result says %s", sum, res.Export.SHA256)
	}
	info, err := os.Stat(filepath.Join(f.root, res.Export.Location))
	if err != nil {
		t.Fatal(err)
	}
	if want := info.ModTime().Add(exportsRetention); !res.Export.ExpiresAt.Equal(want) {
		t.Errorf("export expires at %s, want its modification time plus the retention, %s", res.Export.ExpiresAt, want)
	}
	if d := time.Until(res.Export.ExpiresAt) - exportsRetention; d > time.Minute || d < -time.Minute {
		t.Errorf("export expires at %s, not about %s from now", res.Export.ExpiresAt, exportsRetention)
	}
	if _, err := f.keyring.Open(sealed, ExportAssociatedData("another-request")); err == nil {
		t.Error("the export opens with another request's associated data")
	}
	plain, err := f.keyring.Open(sealed, ExportAssociatedData(requestUID))
	if err != nil {
		t.Fatalf("opening the export with the keyring: %v", err)
	}
	var a Archive
	if err := json.Unmarshal(plain, &a); err != nil {
		t.Fatalf("decoding the export: %v", err)
	}
	return a
}

// checkManifest checks the manifest against the request and its result:
// the counts per store are what was erased and retained.
func checkManifest(t *testing.T, a Archive, res Result, req Request) {
	t.Helper()
	m := a.Manifest
	if m.Format != ArchiveFormat || m.Request != req.UID || m.SubjectKind != string(req.Subject.Kind) ||
		m.SubjectFingerprint != res.Fingerprint || m.SchemaVersion != 1 || m.DataMap != "inboxchat-reference" {
		t.Errorf("manifest = %+v", m)
	}
	if d := time.Since(m.Created); d < 0 || d > time.Minute {
		t.Errorf("manifest created %s", m.Created)
	}
	perStore := map[string]int64{}
	for k, n := range m.Counts {
		store, _, _ := strings.Cut(k, "/")
		perStore[store] += n
	}
	for _, s := range res.Stores {
		if perStore[s.Name] != s.Erased+s.Retained || perStore[s.Name] != s.Exported {
			t.Errorf("store %s: the export holds %d records, erasure erased %d and retained %d, the result says %d exported",
				s.Name, perStore[s.Name], s.Erased, s.Retained, s.Exported)
		}
	}
	for _, st := range a.Stores {
		for _, c := range st.Collections {
			if len(c.Undecryptable) > 0 {
				t.Errorf("%s/%s: undecryptable fields %v", st.Name, c.Name, c.Undecryptable)
			}
		}
	}
}

// collection returns a collection of an archive.
func collection(t *testing.T, a Archive, store, name string) ArchiveCollection {
	t.Helper()
	for _, s := range a.Stores {
		for _, c := range s.Collections {
			if s.Name == store && c.Name == name {
				return c
			}
		}
	}
	t.Fatalf("the export has no collection %s/%s", store, name)
	return ArchiveCollection{}
}

func TestAPSIDOnTwoPagesErasesBothLeads(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			first := f.seedLead(t)
			f.noReuse(t, "leads")
			second, err := f.seeder.AddLead(ctx, fixturesLeadOnPage(first.psid, "page-2"))
			if err != nil {
				t.Fatal(err)
			}
			f.lastID["leads"] = second
			if err := f.seeder.AddMessage(ctx, second, "inbound", "hi"); err != nil {
				t.Fatal(err)
			}
			res, err := f.newEngine(t, Options{}).Run(ctx, Request{UID: uid(t, "two-pages"), Subject: Subject{Kind: datamap.Lead, PSID: first.psid}})
			if err != nil {
				t.Fatal(err)
			}
			want := expectLead(first)
			want[2].Erased += 1 + 1 // the second lead and its message
			if !reflect.DeepEqual(res.Stores, want) {
				t.Errorf("stores = %+v, want %+v", res.Stores, want)
			}
			for _, id := range []int64{first.id, second} {
				if got := f.leadRows(t, id); got["leads"] != 0 || got["messages"] != 0 {
					t.Errorf("lead %d: rows left %v", id, got)
				}
			}
		})
	}
}
