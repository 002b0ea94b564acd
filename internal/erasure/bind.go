package erasure

import (
	"os"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// boundAdapter is the adapter of one store of the map.
type boundAdapter struct {
	store   string
	adapter interface {
		storeAdapter
		tenantAdapter
	}
}

// bindAdapters makes an adapter for each store of the map. root is the
// opened files volume (nil without one); now is the run's clock reading.
func (e *Engine) bindAdapters(l *ledger, root *os.Root, now time.Time) []boundAdapter {
	settings := e.stores.Retention.settings()
	var out []boundAdapter
	for i := range e.m.Stores {
		st := &e.m.Stores[i]
		colls := map[string]*datamap.Collection{}
		patterns := map[string]datamap.Pattern{}
		for j := range st.Collections {
			c := &st.Collections[j]
			colls[c.Name] = c
			var (
				p   datamap.Pattern
				err error
			)
			switch st.Kind {
			case datamap.Redis:
				p, err = datamap.ParseKeyPattern(c.Key)
			case datamap.Files:
				p, err = datamap.ParsePathPattern(c.Path)
			}
			if err == nil && p.String() != "" {
				patterns[c.Name] = p
			}
		}
		b := boundAdapter{store: st.Name}
		switch st.Kind {
		case datamap.SQL:
			b.adapter = &sqlStore{db: e.stores.DB, engine: e.stores.Engine, ledger: l, colls: colls, now: now,
				settings: settings, hashKey: e.hashKey, keyring: e.stores.Keyring, batch: e.opts.BatchSize}
		case datamap.Redis:
			b.adapter = &redisStore{rdb: e.stores.Redis, ledger: l, request: l.request, colls: colls, patterns: patterns,
				batch: e.opts.BatchSize, settings: settings}
		case datamap.Files:
			b.adapter = &filesStore{root: root, ledger: l, request: l.request, colls: colls, patterns: patterns, settings: settings,
				chunk: max(1, e.opts.ExportPartBytes/2)}
		default:
			continue
		}
		out = append(out, b)
	}
	return out
}
