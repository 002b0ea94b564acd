package datamap

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// redisTypes lists the Redis types a collection may declare.
var redisTypes = []string{"string", "hash", "set", "zset", "list"}

// Validate checks the whole map and returns every problem found, joined;
// each is an [*Error] naming its place. A valid map has valid, unique names;
// known kinds and strategies; retained data with a reason and a period;
// references to existing collections and fields without cycles; bounded
// Redis and file patterns; and every collection linked to a subject.
func (m *Map) Validate() error {
	_, err := m.analyse()
	return err
}

// analyse validates m and returns its collection graph.
func (m *Map) analyse() (*graph, error) {
	var errs problems
	if m.Version != FormatVersion {
		errs.add("version", "unsupported format version %d: want %d", m.Version, FormatVersion)
	}
	if len(m.Stores) == 0 {
		errs.add("stores", "at least one store is required")
	}
	g := &graph{roots: map[SubjectKind]*node{}}
	storeNames := map[string]int{}
	storeKindsSeen := map[StoreKind]int{}
	for i := range m.Stores {
		s := &m.Stores[i]
		p := fmt.Sprintf("stores[%d]", i)
		if !ValidIdentifier(s.Name) {
			errs.add(p+".name", "invalid name %q: want %s", s.Name, sqlIdentifier)
		} else if j, dup := storeNames[s.Name]; dup {
			errs.add(p+".name", "duplicate store name %q (also stores[%d])", s.Name, j)
		} else {
			storeNames[s.Name] = i
		}
		if !slices.Contains(storeKinds, s.Kind) {
			errs.add(p+".kind", "unknown store kind %q: want sql, redis or files", s.Kind)
			continue
		}
		if j, dup := storeKindsSeen[s.Kind]; dup {
			errs.add(p+".kind", "a second %s store (stores[%d] is one): a tenant has one store of each kind", s.Kind, j)
		} else {
			storeKindsSeen[s.Kind] = i
		}
		if len(s.Collections) == 0 {
			errs.add(p+".collections", "at least one collection is required")
		}
		names := map[string]int{}
		var nodes []*node
		for j := range s.Collections {
			c := &s.Collections[j]
			cp := fmt.Sprintf("%s.collections[%d]", p, j)
			if !ValidIdentifier(c.Name) {
				errs.add(cp+".name", "invalid name %q: want %s", c.Name, sqlIdentifier)
			} else if k, dup := names[c.Name]; dup {
				errs.add(cp+".name", "duplicate collection name %q in store %q (also collections[%d])", c.Name, s.Name, k)
			} else {
				names[c.Name] = j
			}
			n := &node{order: len(g.nodes), path: cp, store: s, coll: c}
			validateCollection(&errs, n)
			g.nodes = append(g.nodes, n)
			nodes = append(nodes, n)
		}
		linkReferences(&errs, nodes)
	}
	findRoots(&errs, g)
	if !findCycles(&errs, g) {
		for _, n := range g.nodes {
			if len(n.subjects()) == 0 {
				errs.add(n.path, "collection %q is not linked to any subject: give it an identity, or a reference to a collection that has one", n.coll.Name)
			}
		}
	}
	validateLegalHolds(&errs, m)
	if len(errs) == 0 {
		for _, kind := range SubjectKinds {
			if _, err := g.plan(kind); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return g, nil
}

// validateCollection checks one collection on its own: names, strategies,
// retention, patterns, identities and the fields of references.
func validateCollection(errs *problems, n *node) {
	c, p := n.coll, n.path
	switch n.store.Kind {
	case SQL:
		validateSQLCollection(errs, n)
	case Redis, Files:
		kind := n.store.Kind
		var err error
		if kind == Redis {
			if c.Key == "" {
				errs.add(p+".key", "required for a redis collection")
			} else if n.pattern, err = ParseKeyPattern(c.Key); err != nil {
				errs.add(p+".key", "%v", err)
			}
			if c.Type != "" && !slices.Contains(redisTypes, c.Type) {
				errs.add(p+".type", "unknown Redis type %q: want one of %s", c.Type, strings.Join(redisTypes, ", "))
			}
			if c.Path != "" {
				errs.add(p+".path", "only files collections have a path")
			}
		} else {
			if c.Path == "" {
				errs.add(p+".path", "required for a files collection")
			} else if n.pattern, err = ParsePathPattern(c.Path); err != nil {
				errs.add(p+".path", "%v", err)
			}
			if c.Key != "" {
				errs.add(p+".key", "only redis collections have a key")
			}
			if c.Type != "" {
				errs.add(p+".type", "only redis collections have a type")
			}
			if len(c.References) > 0 {
				errs.add(p+".references", "files collections have no references: bind placeholders with identities")
			}
		}
		if c.PrimaryKey != "" {
			errs.add(p+".primaryKey", "only sql collections have a primary key")
		}
		if len(c.Fields) > 0 {
			errs.add(p+".fields", "only sql collections have fields: a %s collection's strategy applies to each whole %s", kind, wholeUnit(kind))
		}
		switch {
		case c.Strategy == "":
			errs.add(p+".strategy", "required: %q or %q", Delete, Retain)
		case c.Strategy == Null || c.Strategy == Hash:
			errs.add(p+".strategy", "strategy %q applies to sql fields only: each %s is deleted or retained whole", c.Strategy, wholeUnit(kind))
		case !c.Strategy.known():
			errs.add(p+".strategy", "unknown strategy %q: want %q or %q", c.Strategy, Delete, Retain)
		}
		validateRetention(errs, p, c.Strategy, c.Retention, false)
	}

	identities := map[string]int{}
	for k, id := range c.Identities {
		ip := fmt.Sprintf("%s.identities[%d]", p, k)
		if !id.Subject.known() {
			errs.add(ip+".subject", "unknown subject kind %q: want User or Lead", id.Subject)
		} else if !slices.Contains(identifiersOf[id.Subject], id.Identifier) {
			errs.add(ip+".identifier", "%q does not identify a %s: want one of %s", id.Identifier, id.Subject, quoteAll(identifiersOf[id.Subject]))
		} else {
			key := string(id.Subject) + "/" + string(id.Identifier)
			if prev, dup := identities[key]; dup {
				errs.add(ip, "duplicate identity: %s %s is already identified by identities[%d]", id.Subject, id.Identifier, prev)
			}
			identities[key] = k
		}
		validateFieldName(errs, ip+".field", n, id.Field)
		if id.BlindIndex {
			switch {
			case n.store.Kind != SQL:
				errs.add(ip+".blindIndex", "blind indexes exist in sql stores only")
			case id.Identifier == IdentifierID:
				errs.add(ip+".blindIndex", "an internal id is looked up as it is, not through a blind index")
			}
		}
	}
	for k, ref := range c.References {
		validateFieldName(errs, fmt.Sprintf("%s.references[%d].field", p, k), n, ref.Field)
	}
	if n.store.Kind != SQL && n.pattern.raw != "" {
		for _, ph := range n.pattern.Placeholders() {
			bound := slices.ContainsFunc(c.Identities, func(id Identity) bool { return id.Field == ph }) ||
				slices.ContainsFunc(c.References, func(r Reference) bool { return r.Field == ph })
			if !bound {
				field := ".key"
				if n.store.Kind == Files {
					field = ".path"
				}
				errs.add(p+field, "placeholder {%s} is bound by no identity or reference", ph)
			}
		}
	}
}

// validateSQLCollection checks a table: its primary key and fields.
func validateSQLCollection(errs *problems, n *node) {
	c, p := n.coll, n.path
	for _, f := range []struct {
		name string
		set  bool
	}{{"key", c.Key != ""}, {"type", c.Type != ""}, {"path", c.Path != ""}} {
		if f.set {
			errs.add(p+"."+f.name, "sql collections have no %s", f.name)
		}
	}
	if c.Strategy != "" || c.Reason != "" || c.Period != "" || c.Since != "" {
		errs.add(p+".strategy", "an sql collection sets a strategy per field, under fields")
	}
	if c.PrimaryKey != "" && !ValidIdentifier(c.PrimaryKey) {
		errs.add(p+".primaryKey", "invalid column name %q: want %s", c.PrimaryKey, sqlIdentifier)
	}
	if len(c.Fields) == 0 {
		errs.add(p+".fields", "an sql collection lists at least one field that holds personal data")
	}
	names := map[string]int{}
	deletes := -1
	for j, f := range c.Fields {
		if f.Strategy == Delete {
			deletes = j
			break
		}
	}
	for j, f := range c.Fields {
		fp := fmt.Sprintf("%s.fields[%d]", p, j)
		if !ValidIdentifier(f.Name) {
			errs.add(fp+".name", "invalid column name %q: want %s", f.Name, sqlIdentifier)
		} else if k, dup := names[f.Name]; dup {
			errs.add(fp+".name", "duplicate field %q (also fields[%d])", f.Name, k)
		} else {
			names[f.Name] = j
		}
		switch {
		case f.Strategy == "":
			errs.add(fp+".strategy", "required: one of %s", quoteAll(strategies))
		case !f.Strategy.known():
			errs.add(fp+".strategy", "unknown strategy %q: want one of %s", f.Strategy, quoteAll(strategies))
		case f.Strategy == Retain && deletes >= 0:
			errs.add(fp+".strategy", "cannot retain %q: fields[%d] (%s) deletes the row", f.Name, deletes, c.Fields[deletes].Name)
		case (f.Strategy == Null || f.Strategy == Hash) && deletes >= 0:
			errs.add(fp+".strategy", "%q has no effect on %q: fields[%d] (%s) deletes the row", f.Strategy, f.Name, deletes, c.Fields[deletes].Name)
		case (f.Strategy == Null || f.Strategy == Hash) && f.Name == c.PrimaryKey:
			errs.add(fp+".strategy", "cannot %s the primary key %q", f.Strategy, f.Name)
		}
		validateRetention(errs, fp, f.Strategy, f.Retention, true)
	}
}

// validateRetention checks the retention of a field (sql) or collection.
func validateRetention(errs *problems, p string, s Strategy, r Retention, sql bool) {
	if s != Retain {
		for _, f := range []struct {
			name string
			set  bool
		}{{"reason", r.Reason != ""}, {"period", r.Period != ""}, {"since", r.Since != ""}} {
			if f.set {
				errs.add(p+"."+f.name, "only valid with strategy %q", Retain)
			}
		}
		return
	}
	if strings.TrimSpace(r.Reason) == "" {
		errs.add(p+".reason", "required with strategy %q: say why the data is kept", Retain)
	}
	if err := r.Period.validate(); err != nil {
		errs.add(p+".period", "%v", err)
	}
	switch {
	case !sql && r.Since != "":
		errs.add(p+".since", "only sql fields count retention from a column; Redis keys use a TTL and files their modification time")
	case sql && r.Since == "":
		errs.add(p+".since", "required with strategy %q: the timestamp column the period counts from, e.g. created_at", Retain)
	case sql && !ValidIdentifier(r.Since):
		errs.add(p+".since", "invalid column name %q: want %s", r.Since, sqlIdentifier)
	}
}

// validateFieldName checks a field named by an identity or reference: a
// column name (sql) or one of the pattern's placeholders (redis, files).
func validateFieldName(errs *problems, p string, n *node, name string) {
	if n.store.Kind == SQL {
		if !ValidIdentifier(name) {
			errs.add(p, "invalid column name %q: want %s", name, sqlIdentifier)
		}
		return
	}
	if n.pattern.raw != "" && !n.pattern.hasPlaceholder(name) {
		errs.add(p, "%q is not a placeholder of %q", name, n.pattern.raw)
	}
}

// linkReferences resolves the references among the collections of one store.
func linkReferences(errs *problems, nodes []*node) {
	byName := map[string]*node{}
	for _, n := range nodes {
		if _, dup := byName[n.coll.Name]; !dup {
			byName[n.coll.Name] = n
		}
	}
	for _, n := range nodes {
		for k, ref := range n.coll.References {
			p := fmt.Sprintf("%s.references[%d].to", n.path, k)
			collection, field, ok := ref.Target()
			if !ok {
				errs.add(p, "want \"collection.field\", got %q", ref.To)
				continue
			}
			to, ok := byName[collection]
			if !ok {
				errs.add(p, "reference to unknown collection %q in store %q", collection, n.store.Name)
				continue
			}
			switch n.store.Kind {
			case SQL:
				if !slices.Contains(to.columns(), field) {
					errs.add(p, "reference to unknown field %q of collection %q: name its primary key, a field, an identity or a reference", field, collection)
					continue
				}
			case Redis:
				if field != MembersField {
					errs.add(p, "a redis reference takes the %q of a set, not %q", MembersField, field)
					continue
				}
				if to.coll.Type != "set" && to.coll.Type != "zset" {
					errs.add(p, "collection %q has type %q: a reference to its members needs type set or zset", collection, to.coll.Type)
					continue
				}
			}
			n.refs = append(n.refs, edge{ref: k, to: to, field: field})
		}
	}
}

// findRoots records, per subject kind, the sql collection whose identity is
// its primary key, and checks that non-id identifiers are declared there.
func findRoots(errs *problems, g *graph) {
	for _, n := range g.nodes {
		if n.store.Kind != SQL || n.coll.PrimaryKey == "" {
			continue
		}
		for k, id := range n.coll.Identities {
			if id.Identifier != IdentifierID || id.Field != n.coll.PrimaryKey || !id.Subject.known() {
				continue
			}
			if prev, dup := g.roots[id.Subject]; dup {
				errs.add(fmt.Sprintf("%s.identities[%d]", n.path, k), "%s already has its root collection %q (%s): a subject kind has one root",
					id.Subject, prev.coll.Name, prev.path)
				continue
			}
			g.roots[id.Subject] = n
		}
	}
	for _, n := range g.nodes {
		for k, id := range n.coll.Identities {
			if id.Identifier == IdentifierID || !id.Subject.known() || !slices.Contains(identifiersOf[id.Subject], id.Identifier) {
				continue
			}
			if root := g.roots[id.Subject]; root != n {
				where := "it has none: give an sql collection an id identity on its primary key"
				if root != nil {
					where = fmt.Sprintf("that is %q (%s)", root.coll.Name, root.path)
				}
				errs.add(fmt.Sprintf("%s.identities[%d].identifier", n.path, k),
					"%s identifies a %s only on the %s root collection, where it resolves to an id; %s", id.Identifier, id.Subject, id.Subject, where)
			}
		}
	}
}

// validateLegalHolds checks the legalHolds section.
func validateLegalHolds(errs *problems, m *Map) {
	lh := m.LegalHolds
	if lh == nil {
		return
	}
	i := slices.IndexFunc(m.Stores, func(s Store) bool { return s.Name == lh.Store })
	switch {
	case i < 0:
		errs.add("legalHolds.store", "unknown store %q", lh.Store)
	case m.Stores[i].Kind != SQL:
		errs.add("legalHolds.store", "store %q is a %s store: legal holds live in an sql store", lh.Store, m.Stores[i].Kind)
	}
	for _, f := range []struct{ field, name string }{
		{"collection", lh.Collection},
		{"subjectKindField", lh.SubjectKindField},
		{"subjectIdField", lh.SubjectIDField},
		{"reasonField", lh.ReasonField},
		{"untilField", lh.UntilField},
	} {
		if !ValidIdentifier(f.name) {
			errs.add("legalHolds."+f.field, "invalid SQL identifier %q: want %s", f.name, sqlIdentifier)
		}
	}
}

// wholeUnit names what a redis or files collection's strategy applies to.
func wholeUnit(kind StoreKind) string {
	if kind == Redis {
		return "key"
	}
	return "file or folder"
}

// quoteAll formats values as a comma-separated list of quoted strings.
func quoteAll[T ~string](values []T) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
