package retention

import (
	"strconv"
	"strings"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// rebind turns the ? placeholders of q into $1, $2, ... for PostgreSQL. The
// queries of this package contain no ? other than placeholders.
func rebind(engine schema.Engine, q string) string {
	if engine != schema.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
