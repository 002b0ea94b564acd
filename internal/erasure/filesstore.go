package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// tombstoneDir is the folder of the files volume where a step moves the
// subject's folders before removing them: .erasure/<request uid>/<round>.
const tombstoneDir = ".erasure"

// filesStore is the adapter of the files store: the subject's folders and
// files on the uploads volume.
//
// A step erases in rounds. A round moves one of the subject's folders (or
// files) aside with a single rename, records in the ledger how many paths it
// holds (its own row, "<collection>#<n>"), removes it and marks the round
// done. A worker killed at any point finds the moved folder or the round's
// row again and finishes the round without counting anything twice; the
// step's row then holds the sum of its rounds.
type filesStore struct {
	root     *os.Root
	ledger   *ledger
	request  string
	colls    map[string]*datamap.Collection
	patterns map[string]datamap.Pattern
	settings map[string]time.Duration
	// chunk is how many bytes of a file one record of a tenant export
	// holds.
	chunk int
}

// find returns the existing paths of the step that belong to ids.
func (s *filesStore) find(step datamap.Step, ids []string) ([]string, error) {
	p, ok := s.patterns[step.Collection]
	if !ok {
		return nil, fmt.Errorf("collection %s has no path pattern", step.Collection)
	}
	var out []string
	for _, r := range step.Routes {
		for _, id := range ids {
			paths, err := match(s.root, p, map[string]string{r.Field: id})
			if err != nil {
				return nil, err
			}
			out = append(out, paths...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// countAll counts the paths of the step that belong to ids.
func (s *filesStore) countAll(ctx context.Context, step datamap.Step, ids []string) (int64, error) {
	paths, err := s.find(step, ids)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range paths {
		c, err := countPaths(ctx, s.root, p)
		if err != nil {
			return n, err
		}
		n += c
	}
	return n, nil
}

// Count implements storeAdapter.
func (s *filesStore) Count(ctx context.Context, t target) (tally, error) {
	var res tally
	n, err := s.countAll(ctx, t.step, t.ids)
	if err != nil {
		return res, stepErr(t.step.Store, t.step.Collection, "counting files", err)
	}
	if t.step.Action != datamap.ActionRetain {
		res.Erased = n
		return res, nil
	}
	res.Retained = n
	if n > 0 {
		for _, f := range t.step.Retained {
			d, err := f.Period.Resolve(s.settings)
			if err != nil {
				return res, stepErr(t.step.Store, t.step.Collection, "resolving the retention period", err)
			}
			res.addReasons(retainedReason(f.Reason, t.step.Collection, d))
		}
	}
	return res, nil
}

// Verify implements storeAdapter.
func (s *filesStore) Verify(ctx context.Context, t target) (tally, error) {
	c, err := s.Count(ctx, t)
	return tally{Remaining: c.Erased, Retained: c.Retained, Reasons: c.Reasons}, err
}

// tombstones is the folder of this request's moved paths.
func (s *filesStore) tombstones() string { return path.Join(tombstoneDir, s.request) }

// roundName is the ledger step and tombstone name of round n of a step.
func roundName(collection string, n int) string {
	return collection + roundSeparator + strconv.Itoa(n)
}

// rounds returns the numbers of the step's rounds that the ledger or the
// tombstone folder knows, and the ledger's round rows.
func (s *filesStore) rounds(ctx context.Context, step datamap.Step) ([]int, map[int]ledgerRow, error) {
	rows, err := s.ledger.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	prefix := step.Collection + roundSeparator
	var nums []int
	byNum := map[int]ledgerRow{}
	for k, r := range rows {
		if k[0] != step.Store || !strings.HasPrefix(k[1], prefix) {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(k[1], prefix)); err == nil {
			nums = append(nums, n)
			byNum[n] = r
		}
	}
	entries, err := readDir(s.root, s.tombstones())
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), prefix)); err == nil && strings.HasPrefix(e.Name(), prefix) {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return slices.Compact(nums), byNum, nil
}

// finishRound counts (if the ledger has no row yet), removes and records
// round n of a step.
func (s *filesStore) finishRound(ctx context.Context, store, collection string, n int) (int64, error) {
	name := roundName(collection, n)
	tomb := path.Join(s.tombstones(), name)
	row, ok, err := s.ledger.get(ctx, s.ledger.db, store, name)
	if err != nil {
		return 0, err
	}
	if ok && row.done() {
		return row.Erased, nil
	}
	if !ok {
		// Nothing of the round has been removed before its row exists, so
		// this count is exact.
		c, err := countPaths(ctx, s.root, tomb)
		if err != nil {
			return 0, stepErr(store, collection, "counting moved files", err)
		}
		row = ledgerRow{Erased: c}
		if _, err := s.ledger.insert(ctx, s.ledger.db, store, name, stateStarted, tally{Erased: c}, time.Time{}); err != nil {
			return 0, err
		}
	}
	if err := s.root.RemoveAll(tomb); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, stepErr(store, collection, "removing moved files", err)
	}
	if err := s.ledger.set(ctx, s.ledger.db, store, name, stateDone, tally{Erased: row.Erased}); err != nil {
		return 0, err
	}
	return row.Erased, nil
}

// Erase implements storeAdapter.
func (s *filesStore) Erase(ctx context.Context, t target) (tally, error) {
	store, step := t.step.Store, t.step.Collection
	row, ok, err := s.ledger.get(ctx, s.ledger.db, store, step)
	if err != nil {
		return tally{}, err
	}
	if ok && row.done() && !t.again {
		return row.tally(), nil
	}
	if t.step.Action == datamap.ActionRetain {
		res, err := s.Count(ctx, t)
		if err != nil {
			return tally{}, err
		}
		res.add(t.held)
		return res, s.ledger.record(ctx, s.ledger.db, store, step, res)
	}

	nums, _, err := s.rounds(ctx, t.step)
	if err != nil {
		return tally{}, stepErr(store, step, "reading earlier rounds", err)
	}
	last := 0
	for _, n := range nums {
		// Rounds a killed run left unfinished.
		if _, err := s.finishRound(ctx, store, step, n); err != nil {
			return tally{}, err
		}
		last = max(last, n)
	}
	for attempt := 1; ; attempt++ {
		paths, err := s.find(t.step, t.ids)
		if err != nil {
			return tally{}, stepErr(store, step, "finding files", err)
		}
		if len(paths) == 0 {
			break
		}
		if attempt > maxAttempts {
			return tally{}, &StepError{Store: store, Step: step, Op: "removing files",
				Err: fmt.Errorf("%d paths still found after %d rounds", len(paths), maxAttempts)}
		}
		if err := s.root.MkdirAll(s.tombstones(), 0o700); err != nil {
			return tally{}, stepErr(store, step, "creating the tombstone folder", err)
		}
		for _, p := range paths {
			last++
			if err := s.root.Rename(p, path.Join(s.tombstones(), roundName(step, last))); err != nil {
				return tally{}, stepErr(store, step, "moving files aside", err)
			}
			if t.partial != nil {
				if err := t.partial(); err != nil {
					return tally{}, err
				}
			}
			if _, err := s.finishRound(ctx, store, step, last); err != nil {
				return tally{}, err
			}
		}
	}

	// The step's total is the sum of its rounds, earlier runs included.
	_, byNum, err := s.rounds(ctx, t.step)
	if err != nil {
		return tally{}, stepErr(store, step, "reading rounds", err)
	}
	var erased int64
	for _, r := range byNum {
		erased += r.Erased
	}
	res := tally{Erased: erased}
	if t.again {
		res.Retained, res.Reasons = row.Retained, splitReasons(row.Reason)
	} else {
		res.add(t.held)
	}
	if err := s.ledger.record(ctx, s.ledger.db, store, step, res); err != nil {
		return tally{}, err
	}
	// Best effort: empty tombstone folders hold nothing.
	_ = s.root.Remove(s.tombstones())
	_ = s.root.Remove(tombstoneDir)
	return res, nil
}

// Export implements storeAdapter: every path below the subject's folders,
// with the contents of regular files; links are listed, not followed.
func (s *filesStore) Export(ctx context.Context, t target, c *ArchiveCollection) (int64, error) {
	paths, err := s.find(t.step, t.ids)
	if err != nil {
		return 0, stepErr(t.step.Store, t.step.Collection, "finding files", err)
	}
	var n int64
	for _, p := range paths {
		err := walk(ctx, s.root, p, func(e entry) error {
			f := ArchiveFile{Path: e.path, Type: entryType(e.info), ModTime: e.info.ModTime().UTC()}
			if f.Type == "file" {
				content, err := s.readRegular(e)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(content)
				f.Size, f.SHA256, f.Content = int64(len(content)), hex.EncodeToString(sum[:]), content
			}
			c.Files = append(c.Files, f)
			n++
			return nil
		})
		if err != nil {
			return n, stepErr(t.step.Store, t.step.Collection, "exporting files", err)
		}
	}
	return n, nil
}

// readRegular reads a regular file found by walk, checking that what was
// opened is the file that was listed (not a link swapped in since).
func (s *filesStore) readRegular(e entry) ([]byte, error) {
	f, err := s.root.Open(e.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if opened, err := f.Stat(); err != nil || !os.SameFile(e.info, opened) {
		return nil, fmt.Errorf("a file changed while it was being exported")
	}
	return io.ReadAll(f)
}

// EraseAll implements tenantAdapter: every path the collection's pattern
// matches with all placeholders unbound.
func (s *filesStore) EraseAll(ctx context.Context, c tenantCollection) (int64, error) {
	paths, err := match(s.root, c.pattern, nil)
	if err != nil {
		return 0, stepErr(c.store, c.name, "finding files", err)
	}
	var n int64
	for _, p := range paths {
		k, err := countPaths(ctx, s.root, p)
		if err != nil {
			return n, stepErr(c.store, c.name, "counting files", err)
		}
		if err := s.root.RemoveAll(p); err != nil {
			return n, stepErr(c.store, c.name, "removing files", err)
		}
		n += k
	}
	return n, nil
}

// CountAll implements tenantAdapter.
func (s *filesStore) CountAll(ctx context.Context, c tenantCollection) (int64, error) {
	paths, err := match(s.root, c.pattern, nil)
	if err != nil {
		return 0, stepErr(c.store, c.name, "finding files", err)
	}
	var n int64
	for _, p := range paths {
		k, err := countPaths(ctx, s.root, p)
		if err != nil {
			return n, stepErr(c.store, c.name, "counting files", err)
		}
		n += k
	}
	return n, nil
}
