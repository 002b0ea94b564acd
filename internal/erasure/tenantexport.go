package erasure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// TenantExportFormat names the format of a whole-tenant export (its
// manifest and its parts).
const TenantExportFormat = "inboxchat-tenant-export/v1"

// Default limits of one part of a tenant export: a part is sealed when it
// holds this many records or this many bytes of JSON, whichever comes
// first. A worker holds at most about three parts' bytes in memory (the
// JSON, its sealed copy and one record), whatever the tenant's size.
const (
	DefaultExportPartRecords = 5000
	DefaultExportPartBytes   = 8 << 20
)

// StepExportPart is what Options.AfterStep is called with after each part
// of a tenant export has been written.
const StepExportPart = "export-part"

// tenantManifestName is the manifest's file name in the export folder.
const tenantManifestName = "manifest.json"

// offboardingPrefix starts the name of a tenant export folder.
const offboardingPrefix = "offboarding-"

// validExportUID is what a tenant export's uid may look like: it becomes a
// folder name.
var validExportUID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// TenantExportDir is the folder of a tenant export on the files volume,
// relative to its root: exports/offboarding-<uid>.
func TenantExportDir(uid string) string { return path.Join(exportsDir, offboardingPrefix+uid) }

// TenantExportLocation is the manifest of a tenant export, relative to the
// files volume root: exports/offboarding-<uid>/manifest.json. Its SHA-256
// is the export's digest; the manifest holds the digest of every part.
func TenantExportLocation(uid string) string {
	return path.Join(TenantExportDir(uid), tenantManifestName)
}

// TenantExportAssociatedData is the associated data a part of a tenant
// export is sealed with: "inboxchat-tenant-export:<uid>:<part name>". A
// part therefore opens only under its own name in its own export: open it
// with Keyring.Open(part, TenantExportAssociatedData(uid, name)).
func TenantExportAssociatedData(uid, part string) []byte {
	return []byte("inboxchat-tenant-export:" + uid + ":" + part)
}

// TenantManifest describes a tenant export: what it holds and how to check
// it. It carries no personal data: names of stores and collections, counts,
// sizes and digests.
type TenantManifest struct {
	// Format is TenantExportFormat.
	Format string `json:"format"`
	// UID identifies the export (the Tenant's UID when the operator makes
	// it); it is part of every part's associated data.
	UID string `json:"uid"`
	// Created is when the export was made (UTC, to the second).
	Created time.Time `json:"created"`
	// ExpiresAt is Created plus the tenant's exports retention.
	ExpiresAt time.Time `json:"expiresAt"`
	// DataMap is the data map's name.
	DataMap string `json:"dataMap"`
	// SchemaVersion is the newest migration applied to the tenant
	// database (schema_migrations).
	SchemaVersion int64 `json:"schemaVersion"`
	// Encryption says how the parts are sealed.
	Encryption string `json:"encryption"`
	// Counts holds, per "store/collection", how many records the store
	// held: rows (sql), keys (redis), files and folders (files).
	Counts map[string]int64 `json:"counts"`
	// Parts lists the part files, in the order they were written.
	Parts []TenantExportPart `json:"parts"`
}

// tenantEncryption is TenantManifest.Encryption.
const tenantEncryption = "AES-256-GCM with the tenant keyring (inboxchat-keyring Secret); associated data \"inboxchat-tenant-export:<uid>:<part name>\""

// TenantExportPart is one sealed part file, as the manifest lists it.
type TenantExportPart struct {
	// Name is the file name in the export folder:
	// <store>.<collection>.<n>.json.enc, n counting from 1 per collection.
	Name string `json:"name"`
	// Store and Collection are the data map's.
	Store      string `json:"store"`
	Collection string `json:"collection"`
	// Records is how many JSON records the part holds (a large file spans
	// several records, one per chunk).
	Records int64 `json:"records"`
	// Bytes is the sealed file's size.
	Bytes int64 `json:"bytes"`
	// SHA256 is the hex SHA-256 of the sealed file.
	SHA256 string `json:"sha256"`
}

// TenantPart is the JSON document sealed in a part file: one chunk of one
// collection's records. Exactly one of Rows, Keys and Files is set.
type TenantPart struct {
	Format     string `json:"format"`
	UID        string `json:"uid"`
	Part       string `json:"part"`
	Store      string `json:"store"`
	Kind       string `json:"kind"`
	Collection string `json:"collection"`
	// Index is n of the part's name.
	Index int `json:"index"`
	// Rows are table rows (sql), as in a subject export: encrypted
	// columns (name_enc) decrypted under their name without "_enc",
	// binary values base64, times RFC 3339.
	Rows []map[string]any `json:"rows,omitempty"`
	// Undecryptable lists, per index into Rows, the encrypted columns
	// that could not be opened; their value is null.
	Undecryptable map[int][]string `json:"undecryptable,omitempty"`
	// Keys are Redis keys with their values (redis).
	Keys []ArchiveKey `json:"keys,omitempty"`
	// Files are files and folders (files).
	Files []TenantFile `json:"files,omitempty"`
}

// TenantFile is one record of a file or folder in a tenant export. A file
// larger than a chunk (half the part size) spans several records of the
// same path, in order, possibly across parts: Offset says where Content
// starts, and the record that ends the file carries SHA256 of the whole
// file.
type TenantFile struct {
	// Path is relative to the volume root.
	Path string `json:"path"`
	// Type is "folder", "file", "symlink" (not followed, no content) or
	// "other".
	Type string `json:"type"`
	// Size is a file's size in bytes.
	Size int64 `json:"size,omitempty"`
	// ModTime is the modification time.
	ModTime time.Time `json:"modTime"`
	// Offset is where Content starts in the file.
	Offset int64 `json:"offset,omitempty"`
	// Content is this chunk of the file (base64 in JSON).
	Content []byte `json:"content,omitempty"`
	// SHA256 is the whole file's hex SHA-256, on its last record.
	SHA256 string `json:"sha256,omitempty"`
}

// TenantExport locates a finished tenant export.
type TenantExport struct {
	// Dir is the export folder, relative to the files volume root.
	Dir string
	// Location is the manifest, relative to the files volume root.
	Location string
	// SHA256 is the hex SHA-256 of the manifest file.
	SHA256 string
	// ExpiresAt is the manifest's.
	ExpiresAt time.Time
	// Manifest is the manifest.
	Manifest TenantManifest
	// Found is set when a complete export of the uid was already on the
	// volume and was returned as it was.
	Found bool
}

// tenantRecord is one record a tenantAdapter exports: a row (with the
// encrypted columns it could not open), a key or a file chunk.
type tenantRecord struct {
	row  map[string]any
	bad  []string
	key  *ArchiveKey
	file *TenantFile
}

// ExportTenant exports everything the data map names from a tenant's
// stores: see [Engine.ExportTenant].
func ExportTenant(ctx context.Context, stores Stores, m *datamap.Map, uid string) (TenantExport, error) {
	e, err := New(stores, m, Options{})
	if err != nil {
		return TenantExport{}, err
	}
	return e.ExportTenant(ctx, uid)
}

// ExportTenant writes an encrypted export of everything the data map names
// in every store of the tenant -- every row of its tables (encrypted
// columns decrypted), every key of its Redis patterns, every file and
// folder of its file patterns -- to exports/offboarding-<uid>/ on the
// files volume, for offboarding with spec.offboarding.exportBeforeDelete.
//
// Records are streamed store by store, collection by collection, into part
// files of at most Options.ExportPartRecords records or
// Options.ExportPartBytes bytes, each sealed on its own with the keyring
// (see TenantExportAssociatedData), so memory stays bounded by the part
// size. The manifest (manifest.json) is written last, through a temporary
// file and a rename: a folder without it is an incomplete export.
//
// It is idempotent: when a complete export of uid is already there (its
// manifest and every part it lists, with matching digests), it is returned
// as it is (Found); an incomplete one, left by a killed worker, is removed
// and the export starts over. A complete export whose parts no longer match
// their manifest is an error, and is never overwritten.
func (e *Engine) ExportTenant(ctx context.Context, uid string) (TenantExport, error) {
	fail := func(op string, err error) error { return stepErr(exportsDir, "tenant", op, err) }
	switch {
	case !validExportUID.MatchString(uid):
		return TenantExport{}, tenantExportErr("naming the export", "the export uid must be 1 to 128 letters, digits, '-' or '_'")
	case e.stores.Keyring == nil:
		return TenantExport{}, tenantExportErr("sealing the export", "no keyring")
	case e.stores.FilesRoot == "":
		return TenantExport{}, tenantExportErr("writing the export", "no files volume (Stores.FilesRoot)")
	case e.stores.Retention.Exports <= 0:
		return TenantExport{}, tenantExportErr("dating the export", "the tenant's exports retention is not set")
	}
	root, err := os.OpenRoot(e.stores.FilesRoot)
	if err != nil {
		return TenantExport{}, fail("opening the files volume", err)
	}
	defer root.Close()

	if found, ok, err := readTenantExport(ctx, root, uid); err != nil {
		return TenantExport{}, err
	} else if ok {
		e.opts.Logger.Info("offboarding export: a complete export is already on the volume", "location", found.Location)
		return found, nil
	}
	dir := TenantExportDir(uid)
	if err := root.RemoveAll(dir); err != nil {
		return TenantExport{}, fail("removing an incomplete export", err)
	}
	if err := root.MkdirAll(dir, 0o700); err != nil {
		return TenantExport{}, fail("creating the export folder", err)
	}

	now := e.opts.Now().UTC()
	created := now.Truncate(time.Second)
	man := TenantManifest{
		Format: TenantExportFormat, UID: uid, Created: created, ExpiresAt: created.Add(e.stores.Retention.Exports),
		DataMap: e.m.Name, Encryption: tenantEncryption, Counts: map[string]int64{}, Parts: []TenantExportPart{},
	}
	l := &ledger{db: e.stores.DB, engine: e.stores.Engine, request: "offboarding", now: e.opts.Now}
	adapters := map[string]boundAdapter{}
	var sqlAdapter *sqlStore
	for _, b := range e.bindAdapters(l, root, now) {
		adapters[b.store] = b
		if s, ok := b.adapter.(*sqlStore); ok {
			sqlAdapter = s
		}
	}
	for _, st := range e.m.Stores {
		b, ok := adapters[st.Name]
		if !ok {
			continue
		}
		for i := range st.Collections {
			c, err := tenantCollectionOf(st, &st.Collections[i])
			if err != nil {
				return TenantExport{}, err
			}
			w := &partWriter{ctx: ctx, e: e, root: root, uid: uid, dir: dir, created: created, man: &man,
				store: st.Name, kind: string(st.Kind), collection: c.name}
			n, err := b.adapter.ExportAll(ctx, c, w.add)
			if err != nil {
				return TenantExport{}, err
			}
			if err := w.flush(); err != nil {
				return TenantExport{}, err
			}
			man.Counts[st.Name+"/"+c.name] = n
			e.opts.Logger.Info("offboarding export: exported a collection", "store", st.Name, "collection", c.name,
				"records", n, "parts", w.index)
		}
	}
	if sqlAdapter != nil {
		if man.SchemaVersion, err = sqlAdapter.schemaVersion(ctx); err != nil {
			return TenantExport{}, fail("reading the schema version", err)
		}
	}
	sum, err := writeTenantManifest(root, dir, man)
	if err != nil {
		return TenantExport{}, fail("writing the manifest", err)
	}
	e.opts.Logger.Info("offboarding export: complete", "location", TenantExportLocation(uid), "parts", len(man.Parts))
	return TenantExport{Dir: dir, Location: TenantExportLocation(uid), SHA256: sum, ExpiresAt: man.ExpiresAt, Manifest: man}, nil
}

// partWriter gathers one collection's records into parts and writes each
// part, sealed, when it is full.
type partWriter struct {
	ctx                     context.Context
	e                       *Engine
	root                    *os.Root
	uid, dir                string
	created                 time.Time
	man                     *TenantManifest
	store, kind, collection string

	// index is the number of the current part (parts written so far, plus
	// one while a part is open).
	index int
	// buf holds the open part's JSON: its header, then the records so far.
	buf     bytes.Buffer
	records int
	bad     map[int][]string
}

// field is the JSON field of the part's records.
func (w *partWriter) field() string {
	switch datamap.StoreKind(w.kind) {
	case datamap.Redis:
		return "keys"
	case datamap.Files:
		return "files"
	}
	return "rows"
}

// partName is the file name of part n.
func (w *partWriter) partName(n int) string {
	return fmt.Sprintf("%s.%s.%d.json.enc", w.store, w.collection, n)
}

// add appends a record to the open part, first writing the part out when
// the record would make it too large.
func (w *partWriter) add(rec tenantRecord) error {
	var (
		b   []byte
		err error
	)
	switch {
	case rec.key != nil:
		b, err = json.Marshal(rec.key)
	case rec.file != nil:
		b, err = json.Marshal(rec.file)
	default:
		b, err = json.Marshal(rec.row)
	}
	if err != nil {
		return stepErr(w.store, w.collection, "encoding a record", err)
	}
	defer clear(b)
	if w.records > 0 && (w.records >= w.e.opts.ExportPartRecords || w.buf.Len()+len(b)+1 > w.e.opts.ExportPartBytes) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if w.records == 0 {
		w.index++
		header, err := json.Marshal(TenantPart{Format: TenantExportFormat, UID: w.uid, Part: w.partName(w.index),
			Store: w.store, Kind: w.kind, Collection: w.collection, Index: w.index})
		if err != nil {
			return stepErr(w.store, w.collection, "encoding a part", err)
		}
		w.buf.Write(header[:len(header)-1]) // without its closing brace
		w.buf.WriteString(`,"` + w.field() + `":[`)
	} else {
		w.buf.WriteByte(',')
	}
	w.buf.Write(b)
	if len(rec.bad) > 0 {
		if w.bad == nil {
			w.bad = map[int][]string{}
		}
		w.bad[w.records] = rec.bad
	}
	w.records++
	return nil
}

// flush seals and writes the open part, if it holds any record, and lists
// it in the manifest.
func (w *partWriter) flush() error {
	if w.records == 0 {
		return nil
	}
	fail := func(op string, err error) error { return stepErr(w.store, w.collection, op, err) }
	if err := w.ctx.Err(); err != nil {
		return fail("writing a part", err)
	}
	w.buf.WriteByte(']')
	if len(w.bad) > 0 {
		b, err := json.Marshal(w.bad)
		if err != nil {
			return fail("encoding a part", err)
		}
		w.buf.WriteString(`,"undecryptable":`)
		w.buf.Write(b)
	}
	w.buf.WriteByte('}')
	name := w.partName(w.index)
	sealed, err := w.e.stores.Keyring.Seal(w.buf.Bytes(), TenantExportAssociatedData(w.uid, name))
	clear(w.buf.Bytes())
	w.buf.Reset()
	if err != nil {
		return fail("sealing a part", err)
	}
	if err := writeSynced(w.root, path.Join(w.dir, name), sealed, w.created, os.O_EXCL); err != nil {
		return fail("writing a part", err)
	}
	sum := sha256.Sum256(sealed)
	w.man.Parts = append(w.man.Parts, TenantExportPart{Name: name, Store: w.store, Collection: w.collection,
		Records: int64(w.records), Bytes: int64(len(sealed)), SHA256: hex.EncodeToString(sum[:])})
	w.records, w.bad = 0, nil
	if hook := w.e.opts.AfterStep; hook != nil {
		if err := hook(StepExportPart); err != nil {
			return fmt.Errorf("%w: after %s: %w", ErrStopped, StepExportPart, err)
		}
	}
	return nil
}

// writeSynced writes data to name (flag O_EXCL refuses an existing file,
// O_TRUNC replaces it), flushes it to disk and dates it at modTime.
func writeSynced(root *os.Root, name string, data []byte, modTime time.Time, flag int) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|flag, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return root.Chtimes(name, modTime, modTime)
}

// writeTenantManifest writes the manifest under a temporary name, flushes
// it and renames it into place, and returns its digest.
func writeTenantManifest(root *os.Root, dir string, man TenantManifest) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(man); err != nil {
		return "", err
	}
	b := buf.Bytes()
	tmp := path.Join(dir, "."+tenantManifestName+".tmp")
	if err := writeSynced(root, tmp, b, man.Created, os.O_TRUNC); err != nil {
		return "", err
	}
	if err := root.Rename(tmp, path.Join(dir, tenantManifestName)); err != nil {
		return "", err
	}
	// The rename is durable once the folder is flushed.
	if d, err := root.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// readTenantExport reads the manifest of uid's export and checks every part
// it lists. ok is false when there is no manifest (no export, or an
// incomplete one); a manifest that does not describe a complete export of
// uid is an error.
func readTenantExport(ctx context.Context, root *os.Root, uid string) (TenantExport, bool, error) {
	fail := func(op string, err error) error { return stepErr(exportsDir, "tenant", op, err) }
	dir := TenantExportDir(uid)
	if info, err := root.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return TenantExport{}, false, nil
	} else if err != nil {
		return TenantExport{}, false, fail("reading the export folder", err)
	} else if !info.IsDir() {
		return TenantExport{}, false, tenantExportErr("reading the export folder", fmt.Sprintf("%s is not a folder", dir))
	}
	b, err := readRegularFile(root, TenantExportLocation(uid))
	if errors.Is(err, fs.ErrNotExist) {
		return TenantExport{}, false, nil
	}
	if err != nil {
		return TenantExport{}, false, fail("reading the manifest", err)
	}
	var man TenantManifest
	if err := json.Unmarshal(b, &man); err != nil {
		return TenantExport{}, false, tenantExportErr("reading the manifest", "the manifest is not valid JSON")
	}
	if man.Format != TenantExportFormat || man.UID != uid {
		return TenantExport{}, false, tenantExportErr("reading the manifest", fmt.Sprintf("the manifest is not a %s export of %s", TenantExportFormat, uid))
	}
	for _, p := range man.Parts {
		if err := ctx.Err(); err != nil {
			return TenantExport{}, false, fail("checking the parts", err)
		}
		sum, size, err := digestFile(root, path.Join(dir, p.Name))
		if err != nil || sum != p.SHA256 || size != p.Bytes {
			return TenantExport{}, false, tenantExportErr("checking the parts", fmt.Sprintf(
				"part %s does not match the manifest of the complete export on the volume; the export is kept as it is: move %s away to export again", p.Name, dir))
		}
	}
	sum := sha256.Sum256(b)
	return TenantExport{Dir: dir, Location: TenantExportLocation(uid), SHA256: hex.EncodeToString(sum[:]),
		ExpiresAt: man.ExpiresAt, Manifest: man, Found: true}, true, nil
}

// readRegularFile reads a regular file (not a link) of the volume.
func readRegularFile(root *os.Root, name string) ([]byte, error) {
	info, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path.Base(name))
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// digestFile streams a regular file of the volume through SHA-256.
func digestFile(root *os.Root, name string) (string, int64, error) {
	info, err := root.Lstat(name)
	if err != nil {
		return "", 0, err
	}
	if !info.Mode().IsRegular() {
		return "", 0, fmt.Errorf("not a regular file")
	}
	f, err := root.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// tenantExportErr is a failure of a tenant export whose message the
// export composed itself (names of folders and parts, never values), so it
// is not scrubbed.
func tenantExportErr(op, msg string) error {
	return &StepError{Store: exportsDir, Step: "tenant", Op: op, Err: errors.New(msg)}
}

// tenantCollectionOf names one collection of a store for offboarding, with
// its key or path pattern parsed.
func tenantCollectionOf(st datamap.Store, c *datamap.Collection) (tenantCollection, error) {
	tc := tenantCollection{store: st.Name, name: c.Name}
	var err error
	switch st.Kind {
	case datamap.Redis:
		tc.pattern, err = datamap.ParseKeyPattern(c.Key)
	case datamap.Files:
		tc.pattern, err = datamap.ParsePathPattern(c.Path)
	}
	if err != nil {
		return tc, stepErr(st.Name, c.Name, "parsing the pattern", err)
	}
	return tc, nil
}
