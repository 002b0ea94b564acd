package erasure

import "time"

// ArchiveFormat names the format of an export archive.
const ArchiveFormat = "inboxchat-erasure-export/v1"

// Archive is the JSON document of an export, before it is sealed: a
// manifest and, per store, the subject's records.
type Archive struct {
	// Manifest describes the export.
	Manifest Manifest `json:"manifest"`
	// Stores holds the records, one entry per store of the data map.
	Stores []ArchiveStore `json:"stores"`
}

// Manifest describes an export. It carries no personal data.
type Manifest struct {
	// Format is ArchiveFormat.
	Format string `json:"format"`
	// Request is the request UID.
	Request string `json:"request"`
	// SubjectKind is User or Lead.
	SubjectKind string `json:"subjectKind"`
	// SubjectFingerprint is the subject's keyed fingerprint.
	SubjectFingerprint string `json:"subjectFingerprint"`
	// Created is when the export was made (UTC, to the second).
	Created time.Time `json:"created"`
	// SchemaVersion is the newest migration applied to the tenant
	// database (schema_migrations).
	SchemaVersion int64 `json:"schemaVersion"`
	// DataMap is the data map's name.
	DataMap string `json:"dataMap"`
	// Counts holds the number of records per "store/collection".
	Counts map[string]int64 `json:"counts"`
}

// ArchiveStore is one store's part of an export.
type ArchiveStore struct {
	// Name and Kind are the data map's.
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Collections holds one entry per step of the plan in this store.
	Collections []ArchiveCollection `json:"collections"`
}

// ArchiveCollection is one collection's records of the subject.
type ArchiveCollection struct {
	// Name is the table or the name of the key or path pattern.
	Name string `json:"name"`
	// Rows are the table's rows (sql): column to value. Encrypted columns
	// (name_enc) appear decrypted under their name without "_enc"; binary
	// values are base64 strings; times RFC 3339.
	Rows []map[string]any `json:"rows,omitempty"`
	// Undecryptable lists, per row index, encrypted columns that could not
	// be opened (a key dropped from the keyring); their value is null.
	Undecryptable map[int][]string `json:"undecryptable,omitempty"`
	// Keys are the Redis keys with their values (redis).
	Keys []ArchiveKey `json:"keys,omitempty"`
	// Files are the files and folders (files).
	Files []ArchiveFile `json:"files,omitempty"`
}

// ArchiveKey is one Redis key.
type ArchiveKey struct {
	// Key is the key's name.
	Key string `json:"key"`
	// Type is its Redis type: string, hash, set, zset or list.
	Type string `json:"type"`
	// TTLSeconds is the key's remaining time to live; -1 for none.
	TTLSeconds int64 `json:"ttlSeconds"`
	// Value is a string (string), a map (hash), a list of strings (set,
	// list) or of {member, score} (zset).
	Value any `json:"value"`
}

// ArchiveFile is one file or folder of the files volume.
type ArchiveFile struct {
	// Path is relative to the volume root.
	Path string `json:"path"`
	// Type is "folder", "file", "symlink" (not followed, no content) or
	// "other".
	Type string `json:"type"`
	// Size is a file's size in bytes.
	Size int64 `json:"size,omitempty"`
	// SHA256 is a file's hex SHA-256.
	SHA256 string `json:"sha256,omitempty"`
	// Content is a file's content (base64 in JSON).
	Content []byte `json:"content,omitempty"`
	// ModTime is the modification time.
	ModTime time.Time `json:"modTime"`
}
