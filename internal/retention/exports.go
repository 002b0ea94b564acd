package retention

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"time"
)

// exportsDir is the folder of the files volume that holds exports.
const exportsDir = "exports"

// pruneExports deletes the regular files under <root>/exports whose
// modification time is more than maxAge before now, and the sub-folders it
// emptied, and returns how many files it deleted. See the package
// documentation for what it never touches.
func pruneExports(ctx context.Context, root string, now time.Time, maxAge time.Duration, log *slog.Logger) (int64, error) {
	volume, err := os.OpenRoot(root)
	if err != nil {
		return 0, fmt.Errorf("opening the files volume: %w", err)
	}
	defer volume.Close()

	info, err := volume.Lstat(exportsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // no export was ever made
	}
	if err != nil {
		return 0, err
	}
	if !info.IsDir() {
		return 0, fmt.Errorf("%s is not a folder (mode %s): refusing to prune through it", exportsDir, info.Mode().Type())
	}
	exports, err := volume.OpenRoot(exportsDir)
	if err != nil {
		return 0, err
	}
	defer exports.Close()
	// The folder must not have been swapped for a link between Lstat and
	// OpenRoot.
	if opened, err := exports.Stat("."); err != nil || !os.SameFile(info, opened) {
		return 0, fmt.Errorf("%s changed while it was being opened: refusing to prune through it", exportsDir)
	}

	cutoff := now.Add(-maxAge)
	var (
		deleted int64
		touched []string // folders a file was deleted from
		errs    []error
	)
	walkErr := fs.WalkDir(exports.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if !d.Type().IsRegular() {
			if d.Type()&fs.ModeSymlink != 0 {
				log.Warn("left a symbolic link among the exports alone")
			}
			return nil // folders are walked, links and special files left alone
		}
		fi, err := d.Info() // lstat: the entry itself
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		switch mtime := fi.ModTime(); {
		case mtime.After(now):
			// Never kept forever: the period starts again now.
			if err := exports.Chtimes(name, now, now); err != nil {
				errs = append(errs, err)
			}
		case mtime.Before(cutoff):
			if err := exports.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				return nil
			}
			deleted++
			if dir := path.Dir(name); dir != "." {
				touched = append(touched, dir)
			}
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}

	// Deepest folders first, so that a parent emptied by its children's
	// removal goes too. Remove fails on a folder that is not empty.
	slices.Sort(touched)
	touched = slices.Compact(touched)
	for i := len(touched) - 1; i >= 0; i-- {
		for dir := touched[i]; dir != "."; dir = path.Dir(dir) {
			if exports.Remove(dir) != nil {
				break
			}
		}
	}
	return deleted, errors.Join(errs...)
}
