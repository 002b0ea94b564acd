package datamap

import "fmt"

// Action is what an erasure step does to the subject's rows, keys or files.
type Action string

const (
	// ActionDelete deletes the rows, keys or files.
	ActionDelete Action = "delete"
	// ActionUpdate keeps the rows and sets the Null columns to NULL and the
	// Hash columns to keyed hashes.
	ActionUpdate Action = "update"
	// ActionRetain keeps everything and reports it as retained.
	ActionRetain Action = "retain"
)

// Plan is the ordered erasure of one kind of subject.
type Plan struct {
	// Subject is the kind of subject the plan erases.
	Subject SubjectKind
	// Lookup says where identifiers other than the internal id (email,
	// psid) are resolved to ids; nil when the map has no sql root for the
	// kind, in which case only ids can be erased.
	Lookup *Lookup
	// Steps run in order: children before parents, the root last.
	// Exports and verification read the same steps' routes.
	Steps []Step
}

// Lookup is the root collection of a subject kind.
type Lookup struct {
	// Store and Collection name the root table.
	Store, Collection string
	// PrimaryKey is the column that holds the subject's id.
	PrimaryKey string
	// Identities are the root's identities for the kind, including id.
	Identities []Identity
}

// Step is what erasure does in one collection.
type Step struct {
	// Store is the store's name; StoreKind says which tenant store it is.
	Store     string
	StoreKind StoreKind
	// Collection is the table, or the name of the key or path pattern.
	Collection string
	// Pattern is the key (redis) or path (files) pattern; zero for sql.
	Pattern Pattern
	// Action is delete, update or retain.
	Action Action
	// Routes are the ways to the subject's rows, keys or files; a row
	// belongs to the subject if any route leads to the subject's id.
	Routes []Route
	// Null and Hash are the columns an update sets (sql, ActionUpdate).
	Null, Hash []string
	// Retained lists what stays, with why and for how long. For sql it
	// holds the retained fields; for redis and files one entry with an
	// empty Field, for the whole key or file.
	Retained []RetainedField
}

// RetainedField is a field (or, with an empty Field, a whole key or file)
// that erasure keeps.
type RetainedField struct {
	// Field is the retained column; empty for a whole key or file.
	Field string
	Retention
}

// Route leads from a step's collection to the subject's id: follow Hops in
// order, then Field of the last collection reached (the step's own when
// there are no hops) holds the id. A reference to the column that holds the
// id (messages.lead_id -> leads.id) needs no hop: the route is simply
// {Field: lead_id}.
type Route struct {
	// Hops are the references followed, first from the step's collection.
	Hops []Hop
	// Field is the column or placeholder that holds the subject's id.
	Field string
}

// Hop follows one reference: rows (keys) whose Field equals To of the
// subject's rows in Collection. For redis, To is "members": the key's
// placeholder takes each member of the referenced set.
type Hop struct {
	Field      string
	Collection string
	To         string
}

// Plan returns the erasure steps for subjects of kind. The map must be valid;
// Plan validates it again.
func (m *Map) Plan(kind SubjectKind) (*Plan, error) {
	if !kind.known() {
		return nil, fmt.Errorf("unknown subject kind %q: want User or Lead", kind)
	}
	g, err := m.analyse()
	if err != nil {
		return nil, err
	}
	return g.plan(kind)
}

// plan builds the plan for kind from a validated graph.
func (g *graph) plan(kind SubjectKind) (*Plan, error) {
	order, err := g.eraseOrder(kind)
	if err != nil {
		return nil, err
	}
	p := &Plan{Subject: kind}
	if root := g.roots[kind]; root != nil {
		l := &Lookup{Store: root.store.Name, Collection: root.coll.Name, PrimaryKey: root.coll.PrimaryKey}
		for _, id := range root.coll.Identities {
			if id.Subject == kind {
				l.Identities = append(l.Identities, id)
			}
		}
		p.Lookup = l
	}
	for _, n := range order {
		p.Steps = append(p.Steps, n.step(kind))
	}
	return p, nil
}

// step builds the erasure step of one collection for kind.
func (n *node) step(kind SubjectKind) Step {
	s := Step{
		Store:      n.store.Name,
		StoreKind:  n.store.Kind,
		Collection: n.coll.Name,
		Pattern:    n.pattern,
		Routes:     n.routes(kind),
		Action:     ActionRetain,
	}
	if n.store.Kind != SQL {
		if n.coll.Strategy == Delete {
			s.Action = ActionDelete
		} else {
			s.Retained = []RetainedField{{Retention: n.coll.Retention}}
		}
		return s
	}
	for _, f := range n.coll.Fields {
		switch f.Strategy {
		case Delete:
			s.Action = ActionDelete
		case Null:
			s.Null = append(s.Null, f.Name)
		case Hash:
			s.Hash = append(s.Hash, f.Name)
		case Retain:
			s.Retained = append(s.Retained, RetainedField{Field: f.Name, Retention: f.Retention})
		}
	}
	if s.Action != ActionDelete && len(s.Null)+len(s.Hash) > 0 {
		s.Action = ActionUpdate
	}
	return s
}
