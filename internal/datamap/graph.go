package datamap

import (
	"fmt"
	"slices"
	"strings"
)

// graph is the collections of a map linked by their references.
type graph struct {
	nodes []*node               // in declaration order
	roots map[SubjectKind]*node // the root collection of each subject kind
}

// node is one collection in the graph.
type node struct {
	order   int    // declaration order across the whole map
	path    string // place in the document, e.g. stores[0].collections[1]
	store   *Store
	coll    *Collection
	pattern Pattern // parsed key or path (redis, files)
	refs    []edge  // resolved references, to the parents
}

// edge is a resolved reference from a node to its parent.
type edge struct {
	ref   int    // index in the child's References
	to    *node  // the referenced collection
	field string // the referenced field
}

// columns returns the columns an sql collection names: primary key, fields,
// identity and reference fields, and retention columns.
func (n *node) columns() []string {
	c := n.coll
	var cols []string
	add := func(name string) {
		if name != "" && !slices.Contains(cols, name) {
			cols = append(cols, name)
		}
	}
	add(c.PrimaryKey)
	for _, f := range c.Fields {
		add(f.Name)
		add(f.Since)
	}
	for _, id := range c.Identities {
		add(id.Field)
	}
	for _, r := range c.References {
		add(r.Field)
	}
	return cols
}

// subjects returns the subject kinds whose data the collection holds: those
// it has an id identity for, and those of the collections it references.
// The graph must be acyclic.
func (n *node) subjects() []SubjectKind {
	var kinds []SubjectKind
	for _, kind := range SubjectKinds {
		if len(n.routes(kind)) > 0 {
			kinds = append(kinds, kind)
		}
	}
	return kinds
}

// routes returns every way from n to an id of a subject of kind: n's own id
// identities, and, through each reference, the routes of the referenced
// collection. A reference to the very field that holds the id becomes a
// direct route on the referencing field. The graph must be acyclic.
func (n *node) routes(kind SubjectKind) []Route {
	var out []Route
	for _, id := range n.coll.Identities {
		if id.Subject == kind && id.Identifier == IdentifierID {
			out = append(out, Route{Field: id.Field})
		}
	}
	for _, e := range n.refs {
		field := n.coll.References[e.ref].Field
		for _, r := range e.to.routes(kind) {
			if len(r.Hops) == 0 && r.Field == e.field {
				// The referenced field is the id itself (users.id): the
				// referencing field holds the id too, no hop needed.
				out = append(out, Route{Field: field})
				continue
			}
			hop := Hop{Field: field, Collection: e.to.coll.Name, To: e.field}
			out = append(out, Route{Hops: append([]Hop{hop}, r.Hops...), Field: r.Field})
		}
	}
	return out
}

// findCycles reports every reference cycle and says whether there was one.
func findCycles(errs *problems, g *graph) bool {
	const (
		unvisited = iota
		onStack
		done
	)
	state := make(map[*node]int, len(g.nodes))
	var (
		stack []*node
		found bool
		visit func(n *node)
	)
	visit = func(n *node) {
		state[n] = onStack
		stack = append(stack, n)
		for _, e := range n.refs {
			switch state[e.to] {
			case unvisited:
				visit(e.to)
			case onStack:
				start := slices.Index(stack, e.to)
				var names []string
				for _, m := range stack[start:] {
					names = append(names, m.coll.Name)
				}
				names = append(names, e.to.coll.Name)
				errs.add(fmt.Sprintf("%s.references[%d]", n.path, e.ref),
					"reference cycle: %s: erase order needs children before parents", strings.Join(names, " -> "))
				found = true
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
	}
	for _, n := range g.nodes {
		if state[n] == unvisited {
			visit(n)
		}
	}
	return found
}

// eraseOrder orders the collections that hold data of kind: every collection
// before the collections it references (children before parents), the
// kind's root after everything else, ties in declaration order.
func (g *graph) eraseOrder(kind SubjectKind) ([]*node, error) {
	var members []*node
	for _, n := range g.nodes {
		if len(n.routes(kind)) > 0 {
			members = append(members, n)
		}
	}
	root := g.roots[kind]
	// before[p] holds the collections that must be erased before p.
	before := map[*node]map[*node]bool{}
	after := func(n, p *node) {
		if before[p] == nil {
			before[p] = map[*node]bool{}
		}
		before[p][n] = true
	}
	for _, n := range members {
		for _, e := range n.refs {
			if slices.Contains(members, e.to) {
				after(n, e.to)
			}
		}
		if root != nil && n != root {
			after(n, root)
		}
	}
	var order []*node
	emitted := map[*node]bool{}
	for len(order) < len(members) {
		next := -1
		for i, n := range members {
			if emitted[n] {
				continue
			}
			ready := true
			for m := range before[n] {
				if !emitted[m] {
					ready = false
					break
				}
			}
			if ready {
				next = i
				break
			}
		}
		if next < 0 {
			var stuck []string
			for _, n := range members {
				if !emitted[n] {
					stuck = append(stuck, n.coll.Name)
				}
			}
			p := "stores"
			if root != nil {
				p = root.path
			}
			return nil, &Error{Path: p, Msg: fmt.Sprintf("no erase order for %s: %s wait on each other (a collection references the %s root's children back)",
				kind, strings.Join(stuck, ", "), kind)}
		}
		emitted[members[next]] = true
		order = append(order, members[next])
	}
	return order, nil
}
