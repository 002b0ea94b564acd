package broadcast

import (
	"strconv"
	"strings"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// rebind turns the ? placeholders of q into $1, $2, ... for PostgreSQL and
// leaves q alone for MySQL. The queries of this package contain no ? in
// string literals.
func rebind(engine schema.Engine, q string) string {
	if engine != schema.Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

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
