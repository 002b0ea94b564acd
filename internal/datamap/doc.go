// Package datamap reads and validates data maps: YAML documents, in the
// spirit of Fides datasets, that say where a tenant's stores keep a data
// subject's personal data and what erasure does with each piece of it.
//
// A map lists stores (kind sql, redis or files). Each store lists
// collections: tables, Redis key patterns or folder patterns. Collections
// name the fields that identify a subject (User or Lead), directly or through
// a blind index, reference each other (messages.lead_id -> leads.id), and say
// per field (SQL) or per key or folder (Redis, files) whether erasure deletes,
// nulls, hashes or retains it, and for retained data why and for how long.
//
// [Load] decodes and validates a map; every error names its place, such as
// stores[0].collections[2].fields[1].strategy. [Map.Plan] turns a valid map
// into the ordered erasure steps for one kind of subject: children before
// the parents they reference, the subject's root row last. [QuoteIdent]
// quotes validated SQL identifiers for PostgreSQL or MySQL; nothing from a
// map reaches SQL any other way. [Default] is the built-in map of the
// reference InboxChat schema (package schema).
//
// docs/data-map.md documents the format.
package datamap
