package erasure

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// encSuffix ends the name of a column that holds a keyring envelope.
const encSuffix = "_enc"

// FieldAssociatedData is the associated data the reference app seals an
// encrypted column with: "<table>.<column without _enc>:<primary key>",
// e.g. "users.email:42".
func FieldAssociatedData(table, column, pk string) []byte {
	return []byte(table + "." + strings.TrimSuffix(column, encSuffix) + ":" + pk)
}

// binaryTypes are the database type names whose values are bytes, not text.
var binaryTypes = map[string]bool{
	"BYTEA": true, "BLOB": true, "TINYBLOB": true, "MEDIUMBLOB": true, "LONGBLOB": true,
	"BINARY": true, "VARBINARY": true,
}

// Export implements storeAdapter: the subject's rows, every column, with
// encrypted columns decrypted.
func (s *sqlStore) Export(ctx context.Context, t target, c *ArchiveCollection) (int64, error) {
	if len(t.ids) == 0 {
		return 0, nil
	}
	pk := s.colls[t.step.Collection].PrimaryKey
	q := newSQL(s.engine).raw("SELECT * FROM ").ident(t.step.Collection)
	s.filter(q, t.step, retention{}, idArgs(t.ids), allRows)
	if pk != "" {
		q.raw(" ORDER BY ").ident(pk)
	}
	stmt, args, err := q.build()
	if err != nil {
		return 0, stepErr(t.step.Store, t.step.Collection, "exporting rows", err)
	}
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return 0, stepErr(t.step.Store, t.step.Collection, "exporting rows", err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return 0, stepErr(t.step.Store, t.step.Collection, "exporting rows", err)
	}
	var n int64
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, stepErr(t.step.Store, t.step.Collection, "exporting rows", err)
		}
		row, bad := s.exportRow(t.step.Collection, pk, types, vals)
		if len(bad) > 0 {
			if c.Undecryptable == nil {
				c.Undecryptable = map[int][]string{}
			}
			c.Undecryptable[len(c.Rows)] = bad
		}
		c.Rows = append(c.Rows, row)
		n++
	}
	if err := rows.Err(); err != nil {
		return n, stepErr(t.step.Store, t.step.Collection, "exporting rows", err)
	}
	return n, nil
}

// exportRow turns one scanned row into JSON values and returns the
// encrypted columns it could not open.
func (s *sqlStore) exportRow(table, pk string, types []*sql.ColumnType, vals []any) (map[string]any, []string) {
	pkValue := ""
	for i, ct := range types {
		if ct.Name() == pk && vals[i] != nil {
			pkValue = string(valueBytes(vals[i]))
		}
	}
	row := make(map[string]any, len(types))
	var bad []string
	for i, ct := range types {
		name, v := ct.Name(), vals[i]
		b, isBytes := v.([]byte)
		switch {
		case isBytes && strings.HasSuffix(name, encSuffix) && binaryTypes[strings.ToUpper(ct.DatabaseTypeName())]:
			plain := strings.TrimSuffix(name, encSuffix)
			if _, clash := row[plain]; clash || plain == "" {
				plain = name
			}
			opened, err := s.open(table, name, pkValue, b)
			if err != nil {
				row[plain] = nil
				bad = append(bad, name)
				continue
			}
			row[plain] = textOrBase64(opened)
		case isBytes && binaryTypes[strings.ToUpper(ct.DatabaseTypeName())]:
			row[name] = base64.StdEncoding.EncodeToString(b)
		case isBytes:
			row[name] = string(b)
		default:
			row[name] = jsonValue(v)
		}
	}
	return row, bad
}

// open decrypts one encrypted column.
func (s *sqlStore) open(table, column, pk string, sealed []byte) ([]byte, error) {
	if s.keyring == nil {
		return nil, fmt.Errorf("no keyring")
	}
	if pk == "" {
		return nil, fmt.Errorf("no primary key to bind the ciphertext to")
	}
	return s.keyring.Open(sealed, FieldAssociatedData(table, column, pk))
}

// jsonValue converts a scanned value that is not bytes.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case nil, bool, int64, float64, string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// textOrBase64 returns valid UTF-8 as a string and anything else as base64.
func textOrBase64(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// schemaVersion reads the newest applied migration.
func (s *sqlStore) schemaVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, err
	}
	return v.Int64, nil
}
