package storetest

import (
	"crypto/rand"
	"encoding/hex"
)

// namePrefix starts the name of every database storetest creates, so that a
// leftover from a killed test run is recognisable at a glance.
const namePrefix = "ict_"

// uniqueName returns a fresh database name such as ict_3f9c0a1b2c3d4e5f. It is
// a valid unquoted identifier in PostgreSQL and MySQL.
func uniqueName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error.
	return namePrefix + hex.EncodeToString(b)
}
