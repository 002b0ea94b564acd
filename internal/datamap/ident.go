package datamap

import (
	"fmt"
	"regexp"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// sqlIdentifier is the only shape of SQL identifier a data map may use: it
// needs no escaping in either engine once quoted, and fits both engines'
// length limits (63 on PostgreSQL, 64 on MySQL).
var sqlIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidIdentifier reports whether name is a valid data map identifier:
// lower-case letters, digits and underscores, not starting with a digit,
// at most 63 characters.
func ValidIdentifier(name string) bool { return sqlIdentifier.MatchString(name) }

// QuoteIdent quotes a table or column name for engine: "name" on PostgreSQL,
// `name` on MySQL. It checks the name again and refuses anything that is not
// a valid identifier, so a map's names reach SQL only through it.
func QuoteIdent(engine schema.Engine, name string) (string, error) {
	if !ValidIdentifier(name) {
		return "", fmt.Errorf("invalid SQL identifier %q: want %s", name, sqlIdentifier)
	}
	switch engine {
	case schema.Postgres:
		return `"` + name + `"`, nil
	case schema.MySQL:
		return "`" + name + "`", nil
	}
	return "", fmt.Errorf("unknown database engine %q", engine)
}
