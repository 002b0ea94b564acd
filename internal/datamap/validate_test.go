package datamap

import (
	"errors"
	"strings"
	"testing"
)

// sql, redis and files return collections of the test map.
func sqlColl(m *Map, i int) *Collection   { return &m.Stores[0].Collections[i] }
func redisColl(m *Map, i int) *Collection { return &m.Stores[1].Collections[i] }
func filesColl(m *Map, i int) *Collection { return &m.Stores[2].Collections[i] }

func TestValidateNamesThePlaceOfEachProblem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(m *Map)
		want   string // "path: message" prefix
	}{
		// Format and stores.
		{"unsupported version", func(m *Map) { m.Version = 2 },
			`version: unsupported format version 2`},
		{"no stores", func(m *Map) { m.Stores = nil },
			`stores: at least one store is required`},
		{"unknown store kind", func(m *Map) { m.Stores[1].Kind = "memcached" },
			`stores[1].kind: unknown store kind "memcached"`},
		{"invalid store name", func(m *Map) { m.Stores[0].Name = "Database" },
			`stores[0].name: invalid name "Database"`},
		{"duplicate store names", func(m *Map) { m.Stores[1].Name = "database" },
			`stores[1].name: duplicate store name "database" (also stores[0])`},
		{"two stores of one kind", func(m *Map) {
			m.Stores[2].Kind = Redis
			m.Stores[2].Collections[0].Path = ""
			m.Stores[2].Collections[0].Key = "up:{id}"
		},
			`stores[2].kind: a second redis store (stores[1] is one)`},
		{"store without collections", func(m *Map) { m.Stores[2].Collections = nil },
			`stores[2].collections: at least one collection is required`},

		// SQL identifiers.
		{"invalid table name", func(m *Map) { sqlColl(m, 0).Name = "Users-1" },
			`stores[0].collections[0].name: invalid name "Users-1"`},
		{"table name with SQL in it", func(m *Map) { sqlColl(m, 0).Name = `users"; DROP TABLE users; --` },
			`stores[0].collections[0].name: invalid name`},
		{"invalid column name", func(m *Map) { sqlColl(m, 2).Fields[0].Name = "Text" },
			`stores[0].collections[2].fields[0].name: invalid column name "Text"`},
		{"column name too long", func(m *Map) { sqlColl(m, 2).Fields[0].Name = strings.Repeat("a", 64) },
			`stores[0].collections[2].fields[0].name: invalid column name`},
		{"invalid primary key", func(m *Map) { sqlColl(m, 2).PrimaryKey = "ID" },
			`stores[0].collections[2].primaryKey: invalid column name "ID"`},
		{"invalid identity column", func(m *Map) { sqlColl(m, 3).Identities[0].Field = "user id" },
			`stores[0].collections[3].identities[0].field: invalid column name "user id"`},
		{"invalid reference column", func(m *Map) { sqlColl(m, 2).References[0].Field = "0lead" },
			`stores[0].collections[2].references[0].field: invalid column name "0lead"`},
		{"duplicate collection names", func(m *Map) { sqlColl(m, 1).Name = "users" },
			`stores[0].collections[1].name: duplicate collection name "users" in store "database" (also collections[0])`},
		{"duplicate field names", func(m *Map) { sqlColl(m, 2).Fields[1].Name = "text_enc" },
			`stores[0].collections[2].fields[1].name: duplicate field "text_enc" (also fields[0])`},

		// References.
		{"reference to an unknown table", func(m *Map) { sqlColl(m, 2).References[0].To = "lead.id" },
			`stores[0].collections[2].references[0].to: reference to unknown collection "lead" in store "database"`},
		{"reference to an unknown field", func(m *Map) { sqlColl(m, 2).References[0].To = "leads.uid" },
			`stores[0].collections[2].references[0].to: reference to unknown field "uid" of collection "leads"`},
		{"malformed reference", func(m *Map) { sqlColl(m, 2).References[0].To = "leads" },
			`stores[0].collections[2].references[0].to: want "collection.field", got "leads"`},
		{"reference to another store", func(m *Map) { sqlColl(m, 2).References[0].To = "user_sessions.members" },
			`stores[0].collections[2].references[0].to: reference to unknown collection "user_sessions" in store "database"`},
		{"reference cycle", func(m *Map) {
			sqlColl(m, 1).References = []Reference{{Field: "last_message_id", To: "messages.id"}}
		}, `stores[0].collections[2].references[0]: reference cycle: leads -> messages -> leads`},
		{"self reference", func(m *Map) {
			sqlColl(m, 2).References = append(sqlColl(m, 2).References, Reference{Field: "reply_to", To: "messages.id"})
		}, `stores[0].collections[2].references[1]: reference cycle: messages -> messages`},
		{"no erase order around the root", func(m *Map) {
			sqlColl(m, 3).PrimaryKey = "id"
			sqlColl(m, 0).References = []Reference{{Field: "last_login_id", To: "security_log.id"}}
		}, `stores[0].collections[0]: no erase order for User`},

		// Strategies and retention.
		{"unknown strategy", func(m *Map) { sqlColl(m, 2).Fields[1].Strategy = "shred" },
			`stores[0].collections[2].fields[1].strategy: unknown strategy "shred"`},
		{"missing strategy", func(m *Map) { sqlColl(m, 2).Fields[1].Strategy = "" },
			`stores[0].collections[2].fields[1].strategy: required`},
		{"retain without reason", func(m *Map) { sqlColl(m, 3).Fields[0].Reason = "" },
			`stores[0].collections[3].fields[0].reason: required with strategy "retain"`},
		{"retain with a blank reason", func(m *Map) { sqlColl(m, 3).Fields[0].Reason = "  " },
			`stores[0].collections[3].fields[0].reason: required with strategy "retain"`},
		{"retain without period", func(m *Map) { sqlColl(m, 3).Fields[0].Period = "" },
			`stores[0].collections[3].fields[0].period: required with strategy "retain"`},
		{"retain forever", func(m *Map) { sqlColl(m, 3).Fields[0].Period = "forever" },
			`stores[0].collections[3].fields[0].period: invalid period "forever"`},
		{"retain for a negative period", func(m *Map) { sqlColl(m, 3).Fields[0].Period = "-1h" },
			`stores[0].collections[3].fields[0].period: period "-1h" is not positive`},
		{"retain for an unknown tenant setting", func(m *Map) { sqlColl(m, 3).Fields[0].Period = "retention.securityLog" },
			`stores[0].collections[3].fields[0].period: unknown setting "retention.securityLog"`},
		{"retain without since", func(m *Map) { sqlColl(m, 3).Fields[0].Since = "" },
			`stores[0].collections[3].fields[0].since: required with strategy "retain"`},
		{"retain since an invalid column", func(m *Map) { sqlColl(m, 3).Fields[0].Since = "Created" },
			`stores[0].collections[3].fields[0].since: invalid column name "Created"`},
		{"reason without retain", func(m *Map) { sqlColl(m, 2).Fields[0].Reason = "because" },
			`stores[0].collections[2].fields[0].reason: only valid with strategy "retain"`},
		{"retain in a deleted row", func(m *Map) {
			sqlColl(m, 2).Fields[1] = Field{Name: "lead_id", Strategy: Retain, Retention: Retention{Reason: "x", Period: "1h", Since: "created_at"}}
		}, `stores[0].collections[2].fields[1].strategy: cannot retain "lead_id": fields[0] (text_enc) deletes the row`},
		{"null in a deleted row", func(m *Map) { sqlColl(m, 2).Fields[1].Strategy = Null },
			`stores[0].collections[2].fields[1].strategy: "null" has no effect on "lead_id": fields[0] (text_enc) deletes the row`},
		{"hash the primary key", func(m *Map) {
			sqlColl(m, 3).PrimaryKey = "id"
			sqlColl(m, 3).Fields = append(sqlColl(m, 3).Fields, Field{Name: "id", Strategy: Hash})
		}, `stores[0].collections[3].fields[1].strategy: cannot hash the primary key "id"`},
		{"sql collection without fields", func(m *Map) { sqlColl(m, 2).Fields = nil },
			`stores[0].collections[2].fields: an sql collection lists at least one field`},
		{"sql collection with a key", func(m *Map) { sqlColl(m, 2).Key = "m:{id}" },
			`stores[0].collections[2].key: sql collections have no key`},
		{"sql collection with a collection strategy", func(m *Map) { sqlColl(m, 2).Strategy = Delete },
			`stores[0].collections[2].strategy: an sql collection sets a strategy per field`},
		{"redis collection with null", func(m *Map) { redisColl(m, 0).Strategy = Null },
			`stores[1].collections[0].strategy: strategy "null" applies to sql fields only`},
		{"redis collection without strategy", func(m *Map) { redisColl(m, 0).Strategy = "" },
			`stores[1].collections[0].strategy: required`},
		{"redis retain without reason", func(m *Map) { redisColl(m, 0).Strategy = Retain; redisColl(m, 0).Period = "24h" },
			`stores[1].collections[0].reason: required with strategy "retain"`},
		{"redis retain since a column", func(m *Map) {
			redisColl(m, 0).Retention = Retention{Reason: "x", Period: "24h", Since: "created_at"}
			redisColl(m, 0).Strategy = Retain
		}, `stores[1].collections[0].since: only sql fields count retention from a column`},
		{"redis collection with fields", func(m *Map) { redisColl(m, 0).Fields = []Field{{Name: "x", Strategy: Delete}} },
			`stores[1].collections[0].fields: only sql collections have fields`},

		// Redis patterns.
		{"bare * key", func(m *Map) { redisColl(m, 0).Key = "*" },
			`stores[1].collections[0].key: pattern "*" contains '*': glob patterns would be unbounded`},
		{"glob key", func(m *Map) { redisColl(m, 0).Key = "sess:*" },
			`stores[1].collections[0].key: pattern "sess:*" contains '*'`},
		{"character class key", func(m *Map) { redisColl(m, 0).Key = "sess:[a-z]{session}" },
			`stores[1].collections[0].key: pattern "sess:[a-z]{session}" contains '['`},
		{"key without placeholder", func(m *Map) { redisColl(m, 0).Key = "sessions" },
			`stores[1].collections[0].key: pattern "sessions" has no placeholder`},
		{"key that is only a placeholder", func(m *Map) { redisColl(m, 0).Key = "{session}" },
			`stores[1].collections[0].key: key pattern "{session}" starts with a placeholder`},
		{"key with adjacent placeholders", func(m *Map) { redisColl(m, 0).Key = "s:{session}{x}" },
			`stores[1].collections[0].key: pattern "s:{session}{x}" has adjacent placeholders`},
		{"key with an unmatched brace", func(m *Map) { redisColl(m, 0).Key = "sess:{session" },
			`stores[1].collections[0].key: pattern "sess:{session" has an unmatched '{'`},
		{"key with a space", func(m *Map) { redisColl(m, 0).Key = "sess: {session}" },
			`stores[1].collections[0].key: pattern "sess: {session}" contains whitespace`},
		{"unbound placeholder", func(m *Map) { redisColl(m, 0).Key = "sess:{session}:{device}" },
			`stores[1].collections[0].key: placeholder {device} is bound by no identity or reference`},
		{"reference from a non-placeholder", func(m *Map) { redisColl(m, 0).References[0].Field = "sid" },
			`stores[1].collections[0].references[0].field: "sid" is not a placeholder of "sess:{session}"`},
		{"redis reference to a field", func(m *Map) { redisColl(m, 0).References[0].To = "user_sessions.id" },
			`stores[1].collections[0].references[0].to: a redis reference takes the "members" of a set, not "id"`},
		{"redis reference to a non-set", func(m *Map) { redisColl(m, 1).Type = "string" },
			`stores[1].collections[0].references[0].to: collection "user_sessions" has type "string": a reference to its members needs type set or zset`},
		{"unknown redis type", func(m *Map) { redisColl(m, 1).Type = "stream" },
			`stores[1].collections[1].type: unknown Redis type "stream"`},

		// File paths.
		{"path escaping the root", func(m *Map) { filesColl(m, 0).Path = "../etc/{id}/" },
			`stores[2].collections[0].path: path pattern "../etc/{id}/" escapes the volume root`},
		{"path escaping the root midway", func(m *Map) { filesColl(m, 0).Path = "users/../../{id}/" },
			`stores[2].collections[0].path: path pattern "users/../../{id}/" escapes the volume root`},
		{"absolute path", func(m *Map) { filesColl(m, 0).Path = "/users/{id}/" },
			`stores[2].collections[0].path: path pattern "/users/{id}/" is absolute`},
		{"unclean path", func(m *Map) { filesColl(m, 0).Path = "users//{id}/" },
			`stores[2].collections[0].path: path pattern "users//{id}/" is not clean`},
		{"path with a glob", func(m *Map) { filesColl(m, 0).Path = "users/*/" },
			`stores[2].collections[0].path: pattern "users/*/" contains '*'`},
		{"path at the root", func(m *Map) { filesColl(m, 0).Path = "{id}/" },
			`stores[2].collections[0].path: path pattern "{id}/" starts with a placeholder`},
		{"placeholder inside a segment", func(m *Map) { filesColl(m, 0).Path = "users/u{id}/" },
			`stores[2].collections[0].path: path pattern "users/u{id}/": a placeholder must be a whole segment`},
		{"path without placeholder", func(m *Map) { filesColl(m, 0).Path = "users/" },
			`stores[2].collections[0].path: pattern "users/" has no placeholder`},
		{"files collection with references", func(m *Map) {
			filesColl(m, 0).References = []Reference{{Field: "id", To: "x.y"}}
		}, `stores[2].collections[0].references: files collections have no references`},

		// Identities and subjects.
		{"unknown subject kind", func(m *Map) { sqlColl(m, 3).Identities[0].Subject = "Customer" },
			`stores[0].collections[3].identities[0].subject: unknown subject kind "Customer"`},
		{"identifier of another kind", func(m *Map) { sqlColl(m, 0).Identities[1].Identifier = IdentifierPSID },
			`stores[0].collections[0].identities[1].identifier: "psid" does not identify a User`},
		{"duplicate identity", func(m *Map) {
			sqlColl(m, 0).Identities = append(sqlColl(m, 0).Identities, Identity{Subject: User, Identifier: IdentifierEmail, Field: "email_enc"})
		}, `stores[0].collections[0].identities[2]: duplicate identity: User email is already identified by identities[1]`},
		{"blind index on an id", func(m *Map) { sqlColl(m, 0).Identities[0].BlindIndex = true },
			`stores[0].collections[0].identities[0].blindIndex: an internal id is looked up as it is`},
		{"blind index in redis", func(m *Map) { redisColl(m, 1).Identities[0].BlindIndex = true },
			`stores[1].collections[1].identities[0].blindIndex: blind indexes exist in sql stores only`},
		{"e-mail identity off the root", func(m *Map) {
			sqlColl(m, 3).Identities = append(sqlColl(m, 3).Identities, Identity{Subject: User, Identifier: IdentifierEmail, Field: "email_bidx", BlindIndex: true})
		}, `stores[0].collections[3].identities[1].identifier: email identifies a User only on the User root collection`},
		{"psid identity without a root", func(m *Map) {
			sqlColl(m, 1).Identities = []Identity{{Subject: Lead, Identifier: IdentifierPSID, Field: "psid_bidx", BlindIndex: true}}
		}, `stores[0].collections[1].identities[0].identifier: psid identifies a Lead only on the Lead root collection, where it resolves to an id; it has none`},
		{"two roots", func(m *Map) {
			sqlColl(m, 1).Identities = append(sqlColl(m, 1).Identities, Identity{Subject: User, Identifier: IdentifierID, Field: "id"})
		}, `stores[0].collections[1].identities[1]: User already has its root collection "users"`},
		{"collection linked to no subject", func(m *Map) {
			m.Stores[0].Collections = append(m.Stores[0].Collections, Collection{Name: "audit", Fields: []Field{{Name: "what", Strategy: Delete}}})
		}, `stores[0].collections[4]: collection "audit" is not linked to any subject`},

		// Legal holds.
		{"legal holds in an unknown store", func(m *Map) { m.LegalHolds = validLegalHolds("db") },
			`legalHolds.store: unknown store "db"`},
		{"legal holds in redis", func(m *Map) { m.LegalHolds = validLegalHolds("sessions") },
			`legalHolds.store: store "sessions" is a redis store`},
		{"legal holds with an invalid column", func(m *Map) { m.LegalHolds = validLegalHolds("database"); m.LegalHolds.ReasonField = "Reason" },
			`legalHolds.reasonField: invalid SQL identifier "Reason"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testMap(t)
			tc.mutate(m)
			err := m.Validate()
			if err == nil {
				t.Fatalf("Validate accepted the map; want an error starting %q", tc.want)
			}
			for _, e := range unjoin(err) {
				if strings.HasPrefix(e.Error(), tc.want) {
					var de *Error
					if !errors.As(e, &de) {
						t.Errorf("the error is a %T, want *Error", e)
					}
					return
				}
			}
			t.Errorf("no error starts with\n\t%s\ngot:\n\t%s", tc.want, strings.ReplaceAll(err.Error(), "\n", "\n\t"))
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	doc := strings.Replace(testMapYAML, "strategy: retain, reason: security,", "strategy: retain,", 1)
	doc = strings.Replace(doc, `key: "sess:{session}"`, `key: "*"`, 1)
	_, err := Load([]byte(doc))
	if err == nil {
		t.Fatal("Load accepted a map with two problems")
	}
	var places []string
	for _, e := range unjoin(err) {
		var de *Error
		if errors.As(e, &de) {
			places = append(places, de.Path)
		}
	}
	for _, want := range []string{"stores[0].collections[3].fields[0].reason", "stores[1].collections[0].key"} {
		if !strings.Contains(strings.Join(places, " "), want) {
			t.Errorf("problems reported at %v, want one at %s", places, want)
		}
	}
}

func TestLoadRejectsUnknownFieldsAndBadYAML(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": strings.Replace(testMapYAML, "primaryKey: id", "primaryKey: id\n        shred: true", 1),
		"misspelled":    strings.Replace(testMapYAML, "collections:", "colections:", 1),
		"not YAML":      "version: [1",
		"empty":         "",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load([]byte(doc)); err == nil {
				t.Error("Load accepted it")
			}
		})
	}
}

// validLegalHolds returns a legalHolds section in store.
func validLegalHolds(store string) *LegalHolds {
	return &LegalHolds{Store: store, Collection: "legal_holds", SubjectKindField: "subject_kind",
		SubjectIDField: "subject_id", ReasonField: "reason", UntilField: "held_until"}
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
