package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// ExportAll implements tenantAdapter: every row of the table, in primary
// key order when it has one, read by one query whose rows are iterated as
// the driver receives them (one consistent snapshot, never the whole table
// in memory), with the encrypted columns decrypted as in a subject export.
func (s *sqlStore) ExportAll(ctx context.Context, c tenantCollection, emit func(tenantRecord) error) (int64, error) {
	fail := func(err error) error { return stepErr(c.store, c.name, "exporting rows", err) }
	pk := ""
	if coll := s.colls[c.name]; coll != nil {
		pk = coll.PrimaryKey
	}
	q := newSQL(s.engine).raw("SELECT * FROM ").ident(c.name)
	if pk != "" {
		q.raw(" ORDER BY ").ident(pk)
	}
	stmt, args, err := q.build()
	if err != nil {
		return 0, fail(err)
	}
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return 0, fail(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return 0, fail(err)
	}
	vals := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		clear(vals)
		if err := rows.Scan(ptrs...); err != nil {
			return n, fail(err)
		}
		row, bad := s.exportRow(c.name, pk, types, vals)
		if err := emit(tenantRecord{row: row, bad: bad}); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fail(err)
	}
	return n, nil
}

// ExportAll implements tenantAdapter: every key of the collection's
// pattern (all placeholders unbound), found with SCAN batch by batch and
// read one at a time. SCAN may return a key twice while Redis resizes its
// table; such a key is exported twice.
func (s *redisStore) ExportAll(ctx context.Context, c tenantCollection, emit func(tenantRecord) error) (int64, error) {
	glob, _, err := expandPartial(c.pattern, nil)
	if err != nil {
		return 0, stepErr(c.store, c.name, "expanding the key pattern", err)
	}
	var (
		n      int64
		cursor uint64
	)
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, glob, int64(s.batch)).Result()
		if err != nil {
			return n, stepErr(c.store, c.name, "scanning keys", err)
		}
		for _, key := range keys {
			k, ok, err := s.exportKey(ctx, key)
			if err != nil {
				return n, stepErr(c.store, c.name, "exporting keys", err)
			}
			if !ok {
				continue // expired or deleted since the SCAN
			}
			if err := emit(tenantRecord{key: &k}); err != nil {
				return n, err
			}
			n++
		}
		if cursor = next; cursor == 0 {
			return n, nil
		}
	}
}

// ExportAll implements tenantAdapter: every path below the folders the
// collection's pattern matches with all placeholders unbound, in lexical
// order, links listed and not followed; a regular file's content in chunks
// of s.chunk bytes, one record each.
func (s *filesStore) ExportAll(ctx context.Context, c tenantCollection, emit func(tenantRecord) error) (int64, error) {
	paths, err := match(s.root, c.pattern, nil)
	if err != nil {
		return 0, stepErr(c.store, c.name, "finding files", err)
	}
	var n int64
	buf := make([]byte, s.chunk)
	for _, p := range paths {
		err := walk(ctx, s.root, p, func(e entry) error {
			f := TenantFile{Path: e.path, Type: entryType(e.info), ModTime: e.info.ModTime().UTC()}
			if f.Type != "file" {
				n++
				return emit(tenantRecord{file: &f})
			}
			if err := s.exportFile(e, f, buf, emit); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			return n, stepErr(c.store, c.name, "exporting files", err)
		}
	}
	return n, nil
}

// errFileChanged means a file was replaced, grew or shrank while it was
// being exported.
var errFileChanged = errors.New("a file changed while it was being exported")

// exportFile emits a regular file found by walk in chunks of len(buf)
// bytes: one record per chunk (one for an empty file), the last with the
// whole file's digest.
func (s *filesStore) exportFile(e entry, f TenantFile, buf []byte, emit func(tenantRecord) error) error {
	file, err := s.root.Open(e.path)
	if err != nil {
		return err
	}
	defer file.Close()
	opened, err := file.Stat()
	if err != nil || !os.SameFile(e.info, opened) {
		return errFileChanged
	}
	f.Size = opened.Size()
	h := sha256.New()
	for {
		// Exactly the rest of the file or a whole chunk: a short read
		// means that the file shrank.
		k, err := io.ReadFull(file, buf[:min(int64(len(buf)), f.Size-f.Offset)])
		if err != nil {
			return fmt.Errorf("%w: %w", errFileChanged, err)
		}
		h.Write(buf[:k])
		rec := f
		rec.Content = buf[:k]
		last := f.Offset+int64(k) >= f.Size
		if last {
			// Nothing may follow the size the file had when it was opened.
			if extra, _ := file.Read(make([]byte, 1)); extra > 0 {
				return errFileChanged
			}
			rec.SHA256 = hex.EncodeToString(h.Sum(nil))
		}
		err = emit(tenantRecord{file: &rec})
		clear(buf[:k])
		if err != nil || last {
			return err
		}
		f.Offset += int64(k)
	}
}
