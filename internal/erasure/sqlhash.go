package erasure

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// hashKeyLabel derives the hash strategy's key from the blind-index key when
// the tenant has no separate one.
const hashKeyLabel = "inboxchat-erasure-hash-v1"

// deriveHashKey returns HMAC-SHA256(blindIndexKey, hashKeyLabel).
func deriveHashKey(blindIndexKey []byte) []byte {
	m := hmac.New(sha256.New, blindIndexKey)
	m.Write([]byte(hashKeyLabel))
	return m.Sum(nil)
}

// hashValue is the "hash" strategy's replacement for a value: the hex
// HMAC-SHA256, under the tenant's hash key, of the table, the column and the
// value. Equal values of one column stay equal, so joins and counts
// survive, and without the key nobody can test a guess.
func hashValue(key []byte, table, column string, value []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(table + "." + column))
	m.Write([]byte{0})
	m.Write(value)
	return hex.EncodeToString(m.Sum(nil))
}

// valueBytes is the byte form of a scanned value that hashValue hashes.
func valueBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	case int64:
		return []byte(strconv.FormatInt(x, 10))
	case time.Time:
		return []byte(x.UTC().Format(time.RFC3339Nano))
	default:
		return fmt.Appendf(nil, "%v", x)
	}
}

// hashRows rewrites the subject's rows of an update step one by one: hash
// columns get hashValue of their value, null columns NULL. It needs the
// table's primary key to address each row.
func (s *sqlStore) hashRows(ctx context.Context, tx *sql.Tx, step datamap.Step, r retention, ids []any) (int64, error) {
	pk := s.colls[step.Collection].PrimaryKey
	if pk == "" {
		return 0, fmt.Errorf("the hash strategy needs the table's primaryKey in the data map")
	}
	q := newSQL(s.engine).raw("SELECT ").ident(pk)
	for _, c := range step.Hash {
		q.raw(", ").ident(c)
	}
	q.raw(" FROM ").ident(step.Collection)
	s.filter(q, step, r, ids, allRows)
	q.raw(" FOR UPDATE")
	stmt, args, err := q.build()
	if err != nil {
		return 0, err
	}
	type pending struct {
		pk     any
		hashes []any
	}
	var rows []pending
	res, err := tx.QueryContext(ctx, stmt, args...)
	if err != nil {
		return 0, err
	}
	for res.Next() {
		vals := make([]any, 1+len(step.Hash))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := res.Scan(ptrs...); err != nil {
			res.Close()
			return 0, err
		}
		p := pending{pk: vals[0]}
		for i, c := range step.Hash {
			if v := vals[i+1]; v != nil {
				p.hashes = append(p.hashes, hashValue(s.hashKey, step.Collection, c, valueBytes(v)))
			} else {
				p.hashes = append(p.hashes, nil)
			}
		}
		rows = append(rows, p)
	}
	if err := res.Close(); err != nil {
		return 0, err
	}
	if err := res.Err(); err != nil {
		return 0, err
	}
	var n int64
	for _, p := range rows {
		u := newSQL(s.engine).raw("UPDATE ").ident(step.Collection).raw(" SET ")
		for i, c := range step.Hash {
			if i > 0 {
				u.raw(", ")
			}
			u.ident(c).raw(" = ").arg(p.hashes[i])
		}
		for _, c := range step.Null {
			u.raw(", ").ident(c).raw(" = NULL")
		}
		u.raw(" WHERE ").ident(pk).raw(" = ").arg(p.pk)
		m, err := s.exec(ctx, tx, u)
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}
