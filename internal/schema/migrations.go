package schema

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
)

//go:embed migrations
var migrationFiles embed.FS

// migrationName matches a migration file name: a version of at least four
// digits, an underscore, a lower-case name and ".sql".
var migrationName = regexp.MustCompile(`^([0-9]{4,})_([a-z0-9_]+)\.sql$`)

// Migration is one embedded, versioned SQL file.
type Migration struct {
	// Version is the file's numeric prefix; versions are applied in
	// ascending order.
	Version int64
	// Name is the file name without version and extension, e.g.
	// "reference_schema".
	Name string
	// SQL is the file's content: statements separated by semicolons.
	SQL string
	// Checksum is the hex SHA-256 of SQL, recorded when the migration is
	// applied and compared on every later Apply.
	Checksum string
}

// Statements splits the migration into the statements Apply executes one by
// one (MySQL connections run with multiStatements=false).
func (m Migration) Statements() ([]string, error) {
	stmts, err := splitStatements(m.SQL)
	if err != nil {
		return nil, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
	}
	return stmts, nil
}

// Migrations returns the embedded migrations for engine in version order.
func Migrations(engine Engine) ([]Migration, error) {
	if engine.DriverName() == "" {
		return nil, fmt.Errorf("unknown database engine %q", engine)
	}
	dir := path.Join("migrations", string(engine))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("reading embedded migrations for %s: %w", engine, err)
	}
	var out []Migration
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s/%s: name must look like 0001_name.sql", dir, e.Name())
		}
		version, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s/%s: version: %w", dir, e.Name(), err)
		}
		if prev, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %s/%s and %s/%s share version %d", dir, prev, dir, e.Name(), version)
		}
		seen[version] = e.Name()
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		out = append(out, Migration{
			Version:  version,
			Name:     m[2],
			SQL:      string(body),
			Checksum: hex.EncodeToString(sum[:]),
		})
	}
	slices.SortFunc(out, func(a, b Migration) int {
		switch {
		case a.Version < b.Version:
			return -1
		case a.Version > b.Version:
			return 1
		}
		return 0
	})
	return out, nil
}
