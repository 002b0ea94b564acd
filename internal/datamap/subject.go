package datamap

// SubjectKind is the kind of data subject an erasure is about; the values
// match the ErasureRequest API's spec.subject.kind.
type SubjectKind string

const (
	// User is an account of the InboxChat app.
	User SubjectKind = "User"
	// Lead is a Messenger contact of a tenant's Page.
	Lead SubjectKind = "Lead"
)

// SubjectKinds lists the subject kinds in a stable order.
var SubjectKinds = []SubjectKind{User, Lead}

// Identifier names the kind of value that identifies a subject; the values
// match the identifiers an ErasureRequest may carry.
type Identifier string

const (
	// IdentifierID is the subject's internal id (users.id, leads.id). Every
	// route from a collection to its subject ends at an id.
	IdentifierID Identifier = "id"
	// IdentifierEmail is a User's e-mail address.
	IdentifierEmail Identifier = "email"
	// IdentifierPSID is a Lead's page-scoped Messenger id.
	IdentifierPSID Identifier = "psid"
)

// identifiersOf lists the identifiers each subject kind can be found by.
var identifiersOf = map[SubjectKind][]Identifier{
	User: {IdentifierID, IdentifierEmail},
	Lead: {IdentifierID, IdentifierPSID},
}

// Identifiers returns the identifiers a subject of kind k can be found by,
// or nil for an unknown kind.
func (k SubjectKind) Identifiers() []Identifier {
	return append([]Identifier(nil), identifiersOf[k]...)
}

// known reports whether k is a subject kind.
func (k SubjectKind) known() bool {
	_, ok := identifiersOf[k]
	return ok
}
