package erasure

import (
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// wildcard is what an unbound placeholder becomes in a glob.
const wildcard = "*"

// expandPartial fills the placeholders bound in values and leaves the
// others as wildcard, returning the result and whether every placeholder was
// bound (the result is then an exact key or path). Bound values pass the
// checks of datamap.Pattern.Expand; the pattern's literals hold no glob
// characters, so the wildcards are the result's only ones.
func expandPartial(p datamap.Pattern, values map[string]string) (string, bool, error) {
	sentinel := sentinelToken()
	all := make(map[string]string, len(values))
	exact := true
	for _, name := range p.Placeholders() {
		if v, ok := values[name]; ok {
			all[name] = v
		} else {
			all[name] = sentinel
			exact = false
		}
	}
	s, err := p.Expand(all)
	if err != nil {
		return "", false, err
	}
	return strings.ReplaceAll(s, sentinel, wildcard), exact, nil
}

// sentinelToken returns a fresh random token that stands for an unbound
// placeholder while a pattern is expanded.
func sentinelToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "unbound" + hex.EncodeToString(b)
}
