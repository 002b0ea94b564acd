package broadcast

import (
	"strings"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// rebind turns the ? placeholders of q into $1, $2, ... for PostgreSQL and
// leaves q alone for MySQL. The queries of this package contain no ? in
// string literals.
func rebind(engine schema.Engine, q string) string { return engine.Rebind(q) }

// placeholders returns n comma-separated ? placeholders.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// int64Args converts ids to query arguments.
func int64Args(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}
