package erasure

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// tenantCollection is one collection of the map, for offboarding.
type tenantCollection struct {
	store, name string
	// pattern is the key or path pattern (redis, files).
	pattern datamap.Pattern
}

// EraseTenant erases everything the data map names from a tenant's stores:
// every row of the map's tables (children before the tables they
// reference), every key of its Redis patterns (found with SCAN, deleted in
// batches), every path of its file patterns, and the exports and
// tombstones on the files volume. Tables the map does not name
// (erasure_ledger, legal_holds, schema_migrations) are left alone. It then
// counts everything again and returns, per store of the map (and
// "exports"), what it erased and what is left; a result with Remaining > 0
// comes with ErrNotErased. It is idempotent: running it again erases what
// is left.
//
// With Options.KeepExport (an [Engine] only), the tenant export of that uid
// (exports/offboarding-<uid>/) is kept and counted as retained, with the
// reason "offboarding export, kept until <its expiry>"; it must be
// complete (see [Engine.ExportTenant]), or nothing is erased.
//
// Legal holds in force (the map's legalHolds table) stop it without an
// export: it erases nothing and returns a [*LegalHoldsError]. With a
// complete export the held data goes back to the tenant in it, and the
// erasure goes on.
func EraseTenant(ctx context.Context, stores Stores, m *datamap.Map) ([]StoreResult, error) {
	e, err := New(stores, m, Options{})
	if err != nil {
		return nil, err
	}
	return e.EraseTenant(ctx)
}

// EraseTenant is the package's EraseTenant with the engine's stores, map and
// options.
func (e *Engine) EraseTenant(ctx context.Context) ([]StoreResult, error) {
	var root *os.Root
	if e.stores.FilesRoot != "" {
		var err error
		if root, err = os.OpenRoot(e.stores.FilesRoot); err != nil {
			return nil, stepErr("files", "open", "opening the files volume", err)
		}
		defer root.Close()
	}
	var keep *TenantExport
	if e.opts.KeepExport != "" {
		if root == nil {
			return nil, tenantExportErr("keeping the export", "no files volume (Stores.FilesRoot)")
		}
		x, ok, err := readTenantExport(ctx, root, e.opts.KeepExport)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, tenantExportErr("keeping the export", "there is no complete export of that uid: nothing was erased")
		}
		keep = &x
	} else {
		held, err := e.ActiveLegalHolds(ctx)
		if err != nil {
			return nil, err
		}
		if held > 0 {
			return nil, &LegalHoldsError{Active: held}
		}
	}
	l := &ledger{db: e.stores.DB, engine: e.stores.Engine, request: "offboarding", now: e.opts.Now}
	var out []StoreResult
	for _, b := range e.bindAdapters(l, root, e.opts.Now().UTC()) {
		colls, err := e.offboardingOrder(b.store)
		if err != nil {
			return out, err
		}
		res := StoreResult{Name: b.store}
		for _, c := range colls {
			n, err := b.adapter.EraseAll(ctx, c)
			if err != nil {
				return out, err
			}
			res.Erased += n
			e.opts.Logger.Info("offboarding: erased a collection", "store", c.store, "collection", c.name, "erased", n)
		}
		for _, c := range colls {
			n, err := b.adapter.CountAll(ctx, c)
			if err != nil {
				return out, err
			}
			res.Remaining += n
		}
		out = append(out, res)
	}
	if root != nil {
		res, err := e.eraseExports(ctx, root, keep)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	for _, r := range out {
		if r.Remaining > 0 {
			return out, fmt.Errorf("offboarding: store %s: %w", r.Name, ErrNotErased)
		}
	}
	return out, nil
}

// offboardingOrder lists a store's collections in the order offboarding
// deletes them: every table after all the tables that reference it, ties
// in declaration order.
func (e *Engine) offboardingOrder(store string) ([]tenantCollection, error) {
	i := slices.IndexFunc(e.m.Stores, func(s datamap.Store) bool { return s.Name == store })
	st := e.m.Stores[i]
	referencedBy := map[string][]string{}
	for _, c := range st.Collections {
		for _, ref := range c.References {
			if to, _, ok := ref.Target(); ok {
				referencedBy[to] = append(referencedBy[to], c.Name)
			}
		}
	}
	var out []tenantCollection
	emitted := map[string]bool{}
	for len(out) < len(st.Collections) {
		progress := false
		for _, c := range st.Collections {
			if emitted[c.Name] {
				continue
			}
			ready := true
			for _, child := range referencedBy[c.Name] {
				if !emitted[child] && child != c.Name {
					ready = false
				}
			}
			if !ready {
				continue
			}
			tc, err := tenantCollectionOf(st, &c)
			if err != nil {
				return nil, err
			}
			out = append(out, tc)
			emitted[c.Name] = true
			progress = true
		}
		if !progress {
			return nil, &StepError{Store: st.Name, Step: "offboarding", Op: "ordering tables", Err: errors.New("the references form a cycle")}
		}
	}
	return out, nil
}

// eraseExports removes the exports folder's contents, but for the tenant
// export to keep (when not nil), and the tombstones of unfinished erasures.
func (e *Engine) eraseExports(ctx context.Context, root *os.Root, keep *TenantExport) (StoreResult, error) {
	res := StoreResult{Name: exportsDir}
	for _, dir := range []string{exportsDir, tombstoneDir} {
		entries, err := readDir(root, dir)
		if err != nil {
			return res, stepErr(exportsDir, dir, "listing", err)
		}
		kept := 0
		for _, ent := range entries {
			name := dir + "/" + ent.Name()
			if keep != nil && name == keep.Dir {
				n, err := countPaths(ctx, root, name)
				if err != nil {
					return res, stepErr(exportsDir, dir, "counting", err)
				}
				res.Retained += n
				res.RetainedReason = "offboarding export, kept until " + keep.ExpiresAt.UTC().Format(time.RFC3339)
				kept++
				continue
			}
			n, err := countPaths(ctx, root, name)
			if err != nil {
				return res, stepErr(exportsDir, dir, "counting", err)
			}
			if err := root.RemoveAll(name); err != nil {
				return res, stepErr(exportsDir, dir, "removing", err)
			}
			res.Erased += n
		}
		left, err := readDir(root, dir)
		if err != nil {
			return res, stepErr(exportsDir, dir, "listing", err)
		}
		res.Remaining += int64(len(left) - kept)
	}
	return res, nil
}
