package erasure

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// openedExport is a tenant export read back with the keyring.
type openedExport struct {
	manifest    TenantManifest
	manifestRaw []byte
	// parts are the decrypted part documents, by part name.
	parts map[string]TenantPart
	// plainSizes are the parts' JSON sizes, by part name.
	plainSizes map[string]int
	// rows, keys and files gather the records per "store/collection";
	// files are reassembled from their chunks, by path.
	rows  map[string][]map[string]any
	keys  map[string][]ArchiveKey
	files map[string]map[string]TenantFile
}

// readTenantExportForTest reads a tenant export from the fixture's volume:
// it checks the manifest's digest against want, every part's size and
// digest against the manifest, opens every part with the keyring under its
// own name, and checks that the folder holds nothing else.
func readTenantExportForTest(t *testing.T, f *fixture, x TenantExport) openedExport {
	t.Helper()
	uid := x.Manifest.UID
	if x.Location != "exports/offboarding-"+uid+"/manifest.json" || x.Dir != "exports/offboarding-"+uid {
		t.Fatalf("export at %q in %q, want exports/offboarding-%s/manifest.json", x.Location, x.Dir, uid)
	}
	raw, err := os.ReadFile(filepath.Join(f.root, x.Location))
	if err != nil {
		t.Fatalf("reading the manifest: %v", err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != x.SHA256 {
		t.Errorf("the manifest's SHA-256 is %x, the export says %s", sum, x.SHA256)
	}
	o := openedExport{manifestRaw: raw, parts: map[string]TenantPart{}, plainSizes: map[string]int{},
		rows: map[string][]map[string]any{}, keys: map[string][]ArchiveKey{}, files: map[string]map[string]TenantFile{}}
	if err := json.Unmarshal(raw, &o.manifest); err != nil {
		t.Fatalf("decoding the manifest: %v", err)
	}
	want := []string{"manifest.json"}
	for _, p := range o.manifest.Parts {
		want = append(want, p.Name)
		sealed, err := os.ReadFile(filepath.Join(f.root, x.Dir, p.Name))
		if err != nil {
			t.Fatalf("reading part %s: %v", p.Name, err)
		}
		if sum := sha256.Sum256(sealed); hex.EncodeToString(sum[:]) != p.SHA256 || int64(len(sealed)) != p.Bytes {
			t.Errorf("part %s: %d bytes with SHA-256 %x, the manifest says %d bytes, %s", p.Name, len(sealed), sum, p.Bytes, p.SHA256)
		}
		plain, err := f.keyring.Open(sealed, TenantExportAssociatedData(uid, p.Name))
		if err != nil {
			t.Fatalf("opening part %s with the keyring: %v", p.Name, err)
		}
		var doc TenantPart
		if err := json.Unmarshal(plain, &doc); err != nil {
			t.Fatalf("decoding part %s: %v", p.Name, err)
		}
		if doc.Format != TenantExportFormat || doc.UID != uid || doc.Part != p.Name || doc.Store != p.Store || doc.Collection != p.Collection {
			t.Errorf("part %s has the header %+v, want its own name, store and collection", p.Name, doc)
		}
		if n := int64(len(doc.Rows) + len(doc.Keys) + len(doc.Files)); n != p.Records {
			t.Errorf("part %s holds %d records, the manifest says %d", p.Name, n, p.Records)
		}
		o.parts[p.Name], o.plainSizes[p.Name] = doc, len(plain)
		coll := p.Store + "/" + p.Collection
		o.rows[coll] = append(o.rows[coll], doc.Rows...)
		o.keys[coll] = append(o.keys[coll], doc.Keys...)
		for _, file := range doc.Files {
			if o.files[coll] == nil {
				o.files[coll] = map[string]TenantFile{}
			}
			whole := o.files[coll][file.Path]
			if int64(len(whole.Content)) != file.Offset {
				t.Errorf("%s: a chunk at offset %d follows %d bytes", coll, file.Offset, len(whole.Content))
			}
			file.Content = append(whole.Content, file.Content...)
			o.files[coll][file.Path] = file
		}
	}
	entries, err := os.ReadDir(filepath.Join(f.root, x.Dir))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the export folder holds %v, want the manifest and its parts %v", got, want)
	}
	return o
}

// column lists one column of exported rows, as strings.
func column(rows []map[string]any, name string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r[name]))
	}
	slices.Sort(out)
	return out
}

// sortedStrings returns a sorted copy.
func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestExportTenantThenEraseTenantKeepingTheExport(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			var (
				users []seededUser
				leads []seededLead
			)
			for range 3 {
				users = append(users, f.seedUser(t))
				leads = append(leads, f.seedLead(t))
			}
			// A subject export (erased by offboarding), and data the map
			// does not name (left alone).
			if _, err := f.newEngine(t, Options{}).Run(ctx, Request{UID: uid(t, "subject"), Subject: Subject{Kind: datamap.Lead, ID: strconv.FormatInt(leads[0].id, 10)}, Mode: Export}); err != nil {
				t.Fatal(err)
			}
			if err := f.rdb.Set(ctx, "feature-flags", "on", 0).Err(); err != nil {
				t.Fatal(err)
			}
			f.writeFile(t, "README.txt", "not personal")
			// A legal hold in force does not stop an erasure that keeps an
			// export: the held data goes back to the tenant in it.
			f.exec(t, "INSERT INTO legal_holds (subject_kind, subject_id, reason) VALUES ('User', ?, 'litigation')", users[0].id)
			wantCounts := map[string]int64{
				"sessions/sessions": 3 * 2, "sessions/user_sessions": 3,
				"files/user_uploads": 3 * 4, "files/lead_uploads": 3 * 2,
			}
			for _, table := range []string{"broadcast_deliveries", "policy_notifications", "messages", "lead_tags", "uploads", "security_log", "users", "leads"} {
				wantCounts["database/"+table] = f.count(t, "SELECT COUNT(*) FROM "+table)
			}

			exportUID := uid(t, "tenant")
			before := time.Now().UTC().Truncate(time.Second)
			x, err := f.newEngine(t, Options{ExportPartRecords: 4}).ExportTenant(ctx, exportUID)
			if err != nil {
				t.Fatalf("ExportTenant: %v", err)
			}
			if x.Found {
				t.Error("a first export says it found a complete export")
			}
			o := readTenantExportForTest(t, f, x)
			m := o.manifest
			if m.Format != TenantExportFormat || m.UID != exportUID || m.DataMap != "inboxchat-reference" || m.SchemaVersion == 0 {
				t.Errorf("manifest header = %+v", m)
			}
			if m.Created.Before(before) || !m.ExpiresAt.Equal(m.Created.Add(exportsRetention)) || !x.ExpiresAt.Equal(m.ExpiresAt) {
				t.Errorf("created %s, expires %s (export says %s): want now and now + %s", m.Created, m.ExpiresAt, x.ExpiresAt, exportsRetention)
			}
			if fmt.Sprint(m.Counts) != fmt.Sprint(wantCounts) {
				t.Errorf("manifest counts = %v\nwant %v", m.Counts, wantCounts)
			}
			perColl := map[string]int{}
			for _, p := range m.Parts {
				perColl[p.Store+"/"+p.Collection]++
				if p.Records > 4 {
					t.Errorf("part %s holds %d records, more than the limit of 4", p.Name, p.Records)
				}
			}
			if perColl["database/messages"] != 3 { // 9 rows, 4 a part
				t.Errorf("database/messages is in %d parts, want 3", perColl["database/messages"])
			}
			for _, p := range m.Parts {
				if want := fmt.Sprintf("%s.%s.", p.Store, p.Collection); !strings.HasPrefix(p.Name, want) || !strings.HasSuffix(p.Name, ".json.enc") {
					t.Errorf("part name %q, want %s<n>.json.enc", p.Name, want)
				}
			}

			// Every record, with the encrypted fields decrypted.
			var emails, names, ips, sessions, psids, firsts, texts []string
			for _, u := range users {
				emails, names = append(emails, strings.TrimSpace(u.email)), append(names, u.name)
				ips = append(ips, u.ips...)
				for _, v := range u.sessions {
					sessions = append(sessions, v)
				}
			}
			for _, l := range leads {
				psids, firsts = append(psids, l.psid), append(firsts, l.first)
				texts = append(texts, l.messages...)
			}
			checks := []struct {
				coll, field string
				got, want   []string
			}{
				{"database/users", "email", column(o.rows["database/users"], "email"), emails},
				{"database/users", "name", column(o.rows["database/users"], "name"), names},
				{"database/security_log", "ip", column(o.rows["database/security_log"], "ip"), ips},
				{"database/leads", "psid", column(o.rows["database/leads"], "psid"), psids},
				{"database/leads", "first_name", column(o.rows["database/leads"], "first_name"), firsts},
				{"database/messages", "text", column(o.rows["database/messages"], "text"), texts},
			}
			for _, c := range checks {
				if !slices.Equal(c.got, sortedStrings(c.want)) {
					t.Errorf("%s.%s = %q\nwant %q", c.coll, c.field, c.got, sortedStrings(c.want))
				}
			}
			var gotSessions []string
			for _, k := range o.keys["sessions/sessions"] {
				gotSessions = append(gotSessions, fmt.Sprint(k.Value))
			}
			if slices.Sort(gotSessions); !slices.Equal(gotSessions, sortedStrings(sessions)) {
				t.Errorf("exported sessions = %q\nwant %q", gotSessions, sortedStrings(sessions))
			}
			for _, u := range users {
				for rel, content := range u.files {
					p := fmt.Sprintf("users/%d/%s", u.id, rel)
					got := o.files["files/user_uploads"][p]
					if string(got.Content) != content || got.SHA256 != hex.EncodeToString(sha256Of(content)) {
						t.Errorf("exported %s = %q (sha256 %s), want %q", p, got.Content, got.SHA256, content)
					}
				}
			}
			for _, l := range leads {
				p := fmt.Sprintf("leads/%d/photo.jpg", l.id)
				if got := o.files["files/lead_uploads"][p]; string(got.Content) != l.photo {
					t.Errorf("exported %s = %q, want %q", p, got.Content, l.photo)
				}
			}
			// The manifest names no one.
			for _, v := range slices.Concat(emails, names, ips, psids, firsts, texts) {
				if bytes.Contains(o.manifestRaw, []byte(v)) {
					t.Errorf("the manifest holds personal data %q", v)
				}
			}
			// A part does not open under another part's name.
			if len(m.Parts) > 1 {
				sealed, _ := os.ReadFile(filepath.Join(f.root, x.Dir, m.Parts[0].Name))
				if _, err := f.keyring.Open(sealed, TenantExportAssociatedData(exportUID, m.Parts[1].Name)); err == nil {
					t.Error("a part opened under another part's name")
				}
			}

			res, err := f.newEngine(t, Options{KeepExport: exportUID}).EraseTenant(ctx)
			if err != nil {
				t.Fatalf("EraseTenant keeping the export: %v", err)
			}
			exports := res[len(res)-1]
			wantKept := int64(1 + 1 + len(m.Parts)) // the folder, the manifest, the parts
			if exports.Name != "exports" || exports.Erased != 1 || exports.Retained != wantKept || exports.Remaining != 0 ||
				exports.RetainedReason != "offboarding export, kept until "+m.ExpiresAt.Format(time.RFC3339) {
				t.Errorf("exports = %+v, want the subject export erased and the %d paths of the tenant export retained until %s", exports, wantKept, m.ExpiresAt.Format(time.RFC3339))
			}
			// Everything the export counted is what offboarding erased.
			for _, r := range res[:len(res)-1] {
				var exported int64
				for coll, n := range m.Counts {
					if strings.HasPrefix(coll, r.Name+"/") {
						exported += n
					}
				}
				if r.Erased != exported || r.Retained != 0 || r.Remaining != 0 {
					t.Errorf("store %+v: want the %d records the export holds erased", r, exported)
				}
			}
			for table := range wantCounts {
				if name, ok := strings.CutPrefix(table, "database/"); ok {
					if n := f.count(t, "SELECT COUNT(*) FROM "+name); n != 0 {
						t.Errorf("%s still holds %d rows", name, n)
					}
				}
			}
			if keys := f.redisKeys(t); !slices.Equal(keys, []string{"feature-flags"}) {
				t.Errorf("Redis keys left: %v, want only the one the map does not name", keys)
			}
			if !f.exists(t, "README.txt") {
				t.Error("a file the map does not name was removed")
			}
			// The export is untouched, and a second export finds it.
			again, err := f.newEngine(t, Options{ExportPartRecords: 4}).ExportTenant(ctx, exportUID)
			if err != nil {
				t.Fatalf("exporting again after the erasure: %v", err)
			}
			if !again.Found || again.SHA256 != x.SHA256 {
				t.Errorf("exporting again = found %v, sha256 %s; want the complete export %s returned as it is", again.Found, again.SHA256, x.SHA256)
			}
			readTenantExportForTest(t, f, again)

			// Offboarding without keeping it is refused while the hold is
			// in force, and once it ended erases the export too.
			var held *LegalHoldsError
			if _, err := EraseTenant(ctx, f.stores(), datamap.Default()); !errors.As(err, &held) {
				t.Fatalf("EraseTenant without the export while a hold is in force: %v, want a LegalHoldsError", err)
			}
			f.exec(t, "UPDATE legal_holds SET held_until = ?", time.Now().UTC().Add(-time.Minute))
			res, err = EraseTenant(ctx, f.stores(), datamap.Default())
			if err != nil {
				t.Fatal(err)
			}
			if exports := res[len(res)-1]; exports.Erased != wantKept || exports.Retained != 0 {
				t.Errorf("exports = %+v, want the tenant export's %d paths erased", exports, wantKept)
			}
			if f.exists(t, x.Dir) {
				t.Error("the tenant export is still there")
			}
		})
	}
}

func sha256Of(s string) []byte { sum := sha256.Sum256([]byte(s)); return sum[:] }

func TestExportTenantStartsOverAfterAKillAndNeverErasesWithoutIt(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines[0])
	for range 2 {
		f.seedUser(t)
		f.seedLead(t)
	}
	exportUID := uid(t, "killed")
	stopAt := func(n int, do func()) Options {
		parts := 0
		return Options{ExportPartRecords: 2, AfterStep: func(step string) error {
			if step != StepExportPart {
				return nil
			}
			if parts++; parts == n {
				do()
				return errors.New("killed")
			}
			return nil
		}}
	}

	// Killed after its third part: no manifest, and offboarding refuses to
	// erase while keeping it.
	_, err := f.newEngine(t, stopAt(3, func() {})).ExportTenant(ctx, exportUID)
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("ExportTenant stopped after a part: %v, want ErrStopped", err)
	}
	dir := filepath.Join(f.root, TenantExportDir(exportUID))
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("the killed export left %d files, want its 3 parts", len(entries))
	}
	if f.exists(t, TenantExportLocation(exportUID)) {
		t.Fatal("a killed export has a manifest")
	}
	snap := f.snapshot(t)
	if _, err := f.newEngine(t, Options{KeepExport: exportUID}).EraseTenant(ctx); err == nil {
		t.Fatal("EraseTenant kept an incomplete export and erased")
	}
	if f.snapshot(t) != snap {
		t.Error("EraseTenant changed the stores although the export to keep is incomplete")
	}

	// Cancelled mid-way: the context stops it too.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := stopAt(2, cancel)
	opts.AfterStep = func(step string) error {
		if step == StepExportPart {
			cancel()
		}
		return nil
	}
	if _, err := f.newEngine(t, opts).ExportTenant(cctx, exportUID); !errors.Is(err, context.Canceled) {
		t.Fatalf("ExportTenant with a cancelled context: %v, want context.Canceled", err)
	}

	// Started again, it starts over and completes.
	x, err := f.newEngine(t, Options{ExportPartRecords: 2}).ExportTenant(ctx, exportUID)
	if err != nil {
		t.Fatalf("ExportTenant after a kill: %v", err)
	}
	if x.Found {
		t.Error("an export started over says it found a complete one")
	}
	o := readTenantExportForTest(t, f, x) // nothing of the killed runs is left
	if got := o.manifest.Counts["database/messages"]; got != 6 || len(o.rows["database/messages"]) != 6 {
		t.Errorf("messages: counted %d, exported %d rows; want 6", got, len(o.rows["database/messages"]))
	}

	// A partial folder with a stray part is replaced as well.
	other := uid(t, "stray")
	f.writeFile(t, TenantExportDir(other)+"/database.users.1.json.enc", "not a part")
	y, err := f.newEngine(t, Options{}).ExportTenant(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	readTenantExportForTest(t, f, y)

	// A complete export whose part was altered is never overwritten, and
	// offboarding will not erase while keeping it.
	part := filepath.Join(f.root, y.Dir, y.Manifest.Parts[0].Name)
	sealed, _ := os.ReadFile(part)
	sealed[len(sealed)-1] ^= 1
	if err := os.WriteFile(part, sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.newEngine(t, Options{}).ExportTenant(ctx, other); err == nil || !strings.Contains(err.Error(), "does not match the manifest") {
		t.Errorf("exporting over a damaged complete export: %v, want a refusal", err)
	}
	if got, _ := os.ReadFile(part); !bytes.Equal(got, sealed) {
		t.Error("the damaged export was overwritten")
	}
	if _, err := f.newEngine(t, Options{KeepExport: other}).EraseTenant(ctx); err == nil {
		t.Error("EraseTenant kept a damaged export and erased")
	}
}

func TestExportTenantPartsStayWithinTheirSize(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines[0])
	u := f.seedUser(t)
	big := make([]byte, 20000)
	_, _ = rand.Read(big)
	f.writeFile(t, fmt.Sprintf("users/%d/big.bin", u.id), string(big))
	f.writeFile(t, fmt.Sprintf("users/%d/empty.txt", u.id), "")
	const limit = 4096
	x, err := f.newEngine(t, Options{ExportPartBytes: limit}).ExportTenant(ctx, uid(t, "sized"))
	if err != nil {
		t.Fatal(err)
	}
	o := readTenantExportForTest(t, f, x)
	files := 0
	for _, p := range o.manifest.Parts {
		if size := o.plainSizes[p.Name]; size > limit+64 {
			t.Errorf("part %s holds %d bytes of JSON, want at most about %d", p.Name, size, limit)
		}
		if p.Collection == "user_uploads" {
			files++
		}
	}
	if files < 20000/limit {
		t.Errorf("a 20000-byte file is in %d parts of %d bytes", files, limit)
	}
	got := o.files["files/user_uploads"][fmt.Sprintf("users/%d/big.bin", u.id)]
	sum := sha256.Sum256(big)
	if !bytes.Equal(got.Content, big) || got.SHA256 != hex.EncodeToString(sum[:]) || got.Size != int64(len(big)) {
		t.Errorf("the reassembled big file: %d bytes, sha256 %s, size %d; want the original %d bytes", len(got.Content), got.SHA256, got.Size, len(big))
	}
	if empty := o.files["files/user_uploads"][fmt.Sprintf("users/%d/empty.txt", u.id)]; empty.Type != "file" || empty.SHA256 != hex.EncodeToString(sha256Of("")) {
		t.Errorf("the empty file = %+v", empty)
	}
	if n := o.manifest.Counts["files/user_uploads"]; n != 6 {
		t.Errorf("files/user_uploads counted %d paths, want 6 (the folder, docs/, four files)", n)
	}
}
