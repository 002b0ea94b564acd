package datamap

// SQLColumns returns, for the map's sql store, each table the map names with
// the columns it names: primary keys, fields, identity and reference
// fields, retention columns, and the legal holds table. A controller can
// check a tenant's custom map against the live database with it. The map
// should be valid; nil when it has no sql store.
func (m *Map) SQLColumns() map[string][]string {
	var out map[string][]string
	add := func(table, column string) {
		for _, c := range out[table] {
			if c == column {
				return
			}
		}
		out[table] = append(out[table], column)
	}
	for i := range m.Stores {
		s := &m.Stores[i]
		if s.Kind != SQL {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		for j := range s.Collections {
			n := &node{store: s, coll: &s.Collections[j]}
			if _, ok := out[n.coll.Name]; !ok {
				out[n.coll.Name] = nil
			}
			for _, c := range n.columns() {
				add(n.coll.Name, c)
			}
		}
		if lh := m.LegalHolds; lh != nil && lh.Store == s.Name {
			for _, c := range []string{lh.SubjectKindField, lh.SubjectIDField, lh.ReasonField, lh.UntilField} {
				add(lh.Collection, c)
			}
		}
	}
	return out
}
