package erasure

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// The files adapter reaches the volume only through an os.Root, which never
// resolves a path outside the root, and it never follows a symbolic link
// itself: links are listed, counted and removed as links. Paths use "/".

// match returns the existing paths of a pattern with values bound: exact
// when every placeholder is bound; otherwise each unbound placeholder (a
// whole segment) matches every entry of its folder. Only real folders are
// descended into, never links.
func match(root *os.Root, p datamap.Pattern, values map[string]string) ([]string, error) {
	expanded, _, err := expandPartial(p, values)
	if err != nil {
		return nil, err
	}
	segments := strings.Split(strings.TrimSuffix(expanded, "/"), "/")
	paths := []string{""}
	for i, seg := range segments {
		last := i == len(segments)-1
		var next []string
		for _, dir := range paths {
			if seg != wildcard {
				name := path.Join(dir, seg)
				info, err := root.Lstat(name)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return nil, err
				}
				if !last && info.Mode()&fs.ModeSymlink != 0 {
					return nil, fmt.Errorf("pattern %s: a folder on its way is a symbolic link: refusing to follow it", p)
				}
				if !last && !info.IsDir() {
					continue
				}
				next = append(next, name)
				continue
			}
			entries, err := readDir(root, dir)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if !last && !e.IsDir() {
					continue
				}
				next = append(next, path.Join(dir, e.Name()))
			}
		}
		paths = next
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

// readDir lists a real folder ("" is the root); a missing folder is empty.
// A folder that is a link is refused.
func readDir(root *os.Root, dir string) ([]fs.DirEntry, error) {
	name := dir
	if name == "" {
		name = "."
	}
	info, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, nil
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The folder must not have been swapped for a link since the Lstat.
	if opened, err := f.Stat(); err != nil || !os.SameFile(info, opened) {
		return nil, fmt.Errorf("a folder changed while it was being opened")
	}
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// entry is one path found by walk.
type entry struct {
	path string
	info fs.FileInfo
}

// walk visits name and, if it is a real folder, everything below it, in
// lexical order, without following links.
func walk(ctx context.Context, root *os.Root, name string, visit func(entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	info, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := visit(entry{path: name, info: info}); err != nil {
		return err
	}
	if !info.IsDir() {
		return nil
	}
	entries, err := readDir(root, name)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := walk(ctx, root, path.Join(name, e.Name()), visit); err != nil {
			return err
		}
	}
	return nil
}

// countPaths counts name and everything below it (0 when it does not exist).
func countPaths(ctx context.Context, root *os.Root, name string) (int64, error) {
	var n int64
	err := walk(ctx, root, name, func(entry) error { n++; return nil })
	return n, err
}

// entryType names the type of a path for exports.
func entryType(info fs.FileInfo) string {
	switch {
	case info.IsDir():
		return "folder"
	case info.Mode().IsRegular():
		return "file"
	case info.Mode()&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "other"
}
