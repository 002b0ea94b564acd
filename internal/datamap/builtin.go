package datamap

import (
	_ "embed"
	"fmt"
)

//go:embed builtin.yaml
var builtinYAML []byte

// BuiltinYAML returns the built-in data map document, e.g. to show it to
// users or to start a custom map from it.
func BuiltinYAML() []byte { return append([]byte(nil), builtinYAML...) }

// Default returns the built-in data map of the reference InboxChat schema
// (package schema): users, leads and their tags, messages, the security log
// (retained for retention.securityLogs with reason "security"), the delivery
// and notification ledgers (deleted with their subject), upload metadata,
// Redis sessions found through the per-user index set, and the per-user and
// per-lead upload folders. Each call returns a new Map.
func Default() *Map {
	m, err := Load(builtinYAML)
	if err != nil {
		// The document is embedded and tested; this is a build defect.
		panic(fmt.Sprintf("datamap: the built-in data map is invalid: %v", err))
	}
	return m
}
