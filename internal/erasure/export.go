package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"
)

// exportsDir is the folder of the files volume that holds exports; the
// prune worker removes them after the tenant's exports retention.
const exportsDir = "exports"

// ExportLocation is where the export of a request is written, relative to
// the files volume root: exports/<uid>.json.enc.
func ExportLocation(uid string) string { return path.Join(exportsDir, uid+".json.enc") }

// ExportAssociatedData is the associated data an export is sealed with, so
// that an archive cannot pass for another request's: open it with
// Keyring.Open(archive, ExportAssociatedData(uid)).
func ExportAssociatedData(uid string) []byte { return []byte("inboxchat-export:" + uid) }

// export collects everything the plan routes to ids, in every store, seals
// it and writes it, then records it in the ledger: the archive's digest and
// creation, and per store how many records it holds, in one transaction.
func (r *run) export(ctx context.Context, ids []string) error {
	fail := func(op string, err error) error { return stepErr(exportsDir, StepExport, op, err) }
	switch {
	case r.e.stores.Keyring == nil:
		return fail("sealing the export", errors.New("no keyring"))
	case r.root == nil:
		return fail("writing the export", errors.New("no files volume (Stores.FilesRoot)"))
	case r.e.stores.Retention.Exports <= 0:
		return fail("dating the export", errors.New("the tenant's exports retention is not set"))
	}
	created := r.now.Truncate(time.Second)
	a := Archive{Manifest: Manifest{
		Format: ArchiveFormat, Request: r.req.UID, SubjectKind: string(r.req.Subject.Kind),
		SubjectFingerprint: r.fingerprint, Created: created, DataMap: r.e.m.Name, Counts: map[string]int64{},
	}}
	perStore := map[string]int64{}
	for _, st := range r.e.m.Stores {
		as := ArchiveStore{Name: st.Name, Kind: string(st.Kind), Collections: []ArchiveCollection{}}
		for _, step := range r.plan.Steps {
			if step.Store != st.Name {
				continue
			}
			c := ArchiveCollection{Name: step.Collection}
			n, err := r.adapters[st.Name].Export(ctx, target{step: step, ids: ids}, &c)
			if err != nil {
				return err
			}
			a.Manifest.Counts[st.Name+"/"+step.Collection] = n
			perStore[st.Name] += n
			as.Collections = append(as.Collections, c)
		}
		a.Stores = append(a.Stores, as)
	}
	if r.sql != nil {
		v, err := r.sql.schemaVersion(ctx)
		if err != nil {
			return fail("reading the schema version", err)
		}
		a.Manifest.SchemaVersion = v
	}

	doc, err := json.Marshal(a)
	if err != nil {
		return fail("encoding the export", err)
	}
	sealed, err := r.e.stores.Keyring.Seal(doc, ExportAssociatedData(r.req.UID))
	clear(doc)
	if err != nil {
		return fail("sealing the export", err)
	}
	sum := sha256.Sum256(sealed)
	if err := r.writeExport(sealed, created); err != nil {
		return fail("writing the export", err)
	}

	tx, err := r.ledger.db.BeginTx(ctx, nil)
	if err != nil {
		return fail("recording the export", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, st := range r.e.m.Stores {
		if _, err := r.ledger.insert(ctx, tx, st.Name, stepExported, stateDone, tally{Erased: perStore[st.Name]}, created); err != nil {
			return err
		}
	}
	if _, err := r.ledger.insert(ctx, tx, requestStore, stepExportPrefix+hex.EncodeToString(sum[:]), stateDone, tally{}, created); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fail("recording the export", err)
	}
	r.log.Info("exported the subject's data", "location", ExportLocation(r.req.UID), "bytes", len(sealed))
	return nil
}

// writeExport writes the sealed archive under a temporary name, flushes
// it, dates it at created (the prune worker counts the retention from the
// modification time) and renames it into place, so that a reader never sees
// half an archive.
func (r *run) writeExport(sealed []byte, created time.Time) error {
	if err := r.root.MkdirAll(exportsDir, 0o700); err != nil {
		return err
	}
	final := ExportLocation(r.req.UID)
	tmp := path.Join(exportsDir, "."+r.req.UID+".tmp")
	if err := writeSynced(r.root, tmp, sealed, created, os.O_TRUNC); err != nil {
		return err
	}
	if err := r.root.Rename(tmp, final); err != nil {
		return err
	}
	if info, err := r.root.Lstat(final); err != nil || !info.Mode().IsRegular() {
		if err == nil {
			err = fs.ErrInvalid
		}
		return fmt.Errorf("checking the written export: %w", err)
	}
	return nil
}
