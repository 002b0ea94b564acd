package datamap

import "strings"

// FormatVersion is the data map format version this package reads.
const FormatVersion = 1

// Map is a data map: where a tenant's stores keep personal data and what
// erasure does with it. Build one with [Load]; a Map changed in Go should be
// checked with [Map.Validate].
type Map struct {
	// Version is the format version; it must be [FormatVersion].
	Version int `json:"version"`
	// Name identifies the map in reports, e.g. "inboxchat-reference".
	Name string `json:"name,omitempty"`
	// Description is free text for readers.
	Description string `json:"description,omitempty"`
	// Stores lists the tenant's stores, at most one of each kind. Steps that
	// have no order between them are planned in declaration order, so list
	// the store to erase first (usually sessions) first.
	Stores []Store `json:"stores"`
	// LegalHolds, when set, says where legal holds are recorded; erasure
	// retains a held subject's data and reports the hold's reason.
	LegalHolds *LegalHolds `json:"legalHolds,omitempty"`
}

// StoreKind is the kind of a store.
type StoreKind string

const (
	// SQL is the tenant database (Tenant spec.stores.database), PostgreSQL
	// or MySQL/MariaDB. Collections are tables.
	SQL StoreKind = "sql"
	// Redis is the session store (Tenant spec.stores.sessions). Collections
	// are key patterns.
	Redis StoreKind = "redis"
	// Files is the uploads volume (Tenant spec.stores.files). Collections
	// are folder or file patterns relative to the volume root.
	Files StoreKind = "files"
)

// storeKinds lists the store kinds in documentation order.
var storeKinds = []StoreKind{SQL, Redis, Files}

// Store is one of the tenant's stores. A store binds to the tenant's store of
// its kind; its name is used in erasure reports.
type Store struct {
	// Name identifies the store in reports and ledgers, e.g. "database".
	Name string `json:"name"`
	// Kind is sql, redis or files.
	Kind StoreKind `json:"kind"`
	// Description is free text for readers.
	Description string `json:"description,omitempty"`
	// Collections lists the tables, key patterns or folder patterns that
	// hold personal data.
	Collections []Collection `json:"collections"`
}

// Collection is a table (sql), a key pattern (redis) or a folder or file
// pattern (files).
type Collection struct {
	// Name is the table name (sql) or a name for the pattern (redis, files).
	Name string `json:"name"`
	// Description is free text for readers.
	Description string `json:"description,omitempty"`

	// PrimaryKey is the table's primary key column (sql). A collection whose
	// identity for a subject kind is its primary key is that kind's root:
	// where identifiers are resolved to ids, and erased last.
	PrimaryKey string `json:"primaryKey,omitempty"`
	// Fields lists the table's columns that hold personal data, each with
	// its strategy (sql).
	Fields []Field `json:"fields,omitempty"`

	// Key is the key pattern (redis), e.g. "sess:{session}". Placeholders
	// in braces are filled from identities and references.
	Key string `json:"key,omitempty"`
	// Type is the Redis type of the keys (string, hash, set, zset, list);
	// a reference to a collection's members needs set or zset.
	Type string `json:"type,omitempty"`
	// Path is the folder ("users/{id}/", with a trailing slash) or file
	// pattern (files), relative to the volume root.
	Path string `json:"path,omitempty"`
	// Strategy applies to each whole key or folder (redis, files): delete
	// or retain.
	Strategy Strategy `json:"strategy,omitempty"`
	// Retention says why and how long retained keys or folders are kept.
	Retention

	// Identities say which field (column or placeholder) holds a subject's
	// identifier.
	Identities []Identity `json:"identities,omitempty"`
	// References link a field to a field of another collection of the same
	// store; the referencing collection is erased before the referenced one.
	References []Reference `json:"references,omitempty"`
}

// Field is a column that holds personal data (sql).
type Field struct {
	// Name is the column name.
	Name string `json:"name"`
	// Description is free text for readers.
	Description string `json:"description,omitempty"`
	// Strategy is delete (the row), null, hash or retain.
	Strategy Strategy `json:"strategy"`
	// Retention says why and how long a retained field is kept.
	Retention
}

// Identity says that a field holds an identifier of a subject.
type Identity struct {
	// Subject is the kind of subject identified.
	Subject SubjectKind `json:"subject"`
	// Identifier is the kind of identifier: id, email (User) or psid (Lead).
	Identifier Identifier `json:"identifier"`
	// Field is the column (sql) or placeholder (redis, files) holding it.
	Field string `json:"field"`
	// BlindIndex is set when the column holds an HMAC blind index of the
	// identifier rather than the identifier: lookups hash the identifier
	// with the tenant's blind-index key first (sql, not for id).
	BlindIndex bool `json:"blindIndex,omitempty"`
}

// Reference links Field of its collection to a field of another collection
// of the same store: the rows (keys, folders) whose Field equals that field
// of the subject's rows there belong to the subject too.
type Reference struct {
	// Field is the referencing column (sql) or placeholder (redis).
	Field string `json:"field"`
	// To is "collection.field". For redis the field is "members": the
	// placeholder takes each member of the referenced set.
	To string `json:"to"`
}

// Target splits To into collection and field; ok is false when To is not of
// the form "collection.field".
func (r Reference) Target() (collection, field string, ok bool) {
	collection, field, ok = strings.Cut(r.To, ".")
	if !ok || collection == "" || field == "" || strings.Contains(field, ".") {
		return "", "", false
	}
	return collection, field, true
}

// MembersField is the pseudo field of a Redis set or sorted set collection
// that a reference uses to take the set's members.
const MembersField = "members"

// LegalHolds says where legal holds are recorded: a table of an sql store
// with one row per hold.
type LegalHolds struct {
	// Store names the sql store.
	Store string `json:"store"`
	// Collection is the table, e.g. legal_holds.
	Collection string `json:"collection"`
	// SubjectKindField holds the subject kind ("User", "Lead").
	SubjectKindField string `json:"subjectKindField"`
	// SubjectIDField holds the subject's internal id.
	SubjectIDField string `json:"subjectIdField"`
	// ReasonField holds the reason reported for retained data.
	ReasonField string `json:"reasonField"`
	// UntilField holds when the hold ends; NULL means until released.
	UntilField string `json:"untilField"`
}
