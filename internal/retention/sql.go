package retention

import (
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// rebind turns the ? placeholders of q into $1, $2, ... for PostgreSQL. The
// queries of this package contain no ? other than placeholders.
func rebind(engine schema.Engine, q string) string { return engine.Rebind(q) }
