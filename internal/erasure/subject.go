package erasure

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// Subject is the data subject of a request: its kind and exactly one
// identifier. Email applies to Users, PSID to Leads; both are resolved to
// internal ids through the blind indexes of the kind's root table.
type Subject struct {
	// Kind is User or Lead.
	Kind datamap.SubjectKind
	// ID is the subject's internal id (users.id, leads.id).
	ID string
	// Email is a User's e-mail address.
	Email string
	// PSID is a Lead's page-scoped Messenger id.
	PSID string
}

// maxIDLength bounds an internal id, as the ErasureRequest API does.
const maxIDLength = 64

// identifier returns which identifier the subject carries and its value.
// Errors name fields, never values.
func (s Subject) identifier() (datamap.Identifier, string, error) {
	if s.Kind != datamap.User && s.Kind != datamap.Lead {
		return "", "", fmt.Errorf("subject kind %q: want %s or %s", s.Kind, datamap.User, datamap.Lead)
	}
	set := 0
	for _, v := range []string{s.ID, s.Email, s.PSID} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return "", "", errors.New("subject: set exactly one of ID, Email and PSID")
	}
	switch {
	case s.ID != "":
		if len(s.ID) > maxIDLength || hasSpaceOrControl(s.ID) {
			return "", "", fmt.Errorf("subject: ID must be 1 to %d characters without white space", maxIDLength)
		}
		return datamap.IdentifierID, s.ID, nil
	case s.Email != "":
		if s.Kind != datamap.User {
			return "", "", fmt.Errorf("subject: a %s has no e-mail identifier: use PSID or ID", s.Kind)
		}
		return datamap.IdentifierEmail, s.Email, nil
	default:
		if s.Kind != datamap.Lead {
			return "", "", fmt.Errorf("subject: a %s has no PSID identifier: use Email or ID", s.Kind)
		}
		return datamap.IdentifierPSID, s.PSID, nil
	}
}

// fingerprint is the subject's keyed, irreversible name (crypto.SubjectFingerprint)
// under the tenant's blind-index key, e.g. for "User/email".
func (s Subject) fingerprint(key []byte) (string, error) {
	ident, value, err := s.identifier()
	if err != nil {
		return "", err
	}
	return crypto.SubjectFingerprint(key, string(s.Kind)+"/"+string(ident), value), nil
}

// String describes the subject without its identifier's value, so that a
// Subject printed by mistake leaks nothing.
func (s Subject) String() string {
	ident, _, err := s.identifier()
	if err != nil {
		return fmt.Sprintf("%s (invalid)", s.Kind)
	}
	return fmt.Sprintf("%s by %s", s.Kind, ident)
}

// canonicalInt reports whether id is a decimal int64 in canonical form
// (no sign, leading zero or white space), and returns it.
func canonicalInt(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != id {
		return 0, false
	}
	return n, true
}

// hasSpaceOrControl reports whether s has white space or control
// characters.
func hasSpaceOrControl(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 {
			return true
		}
	}
	return false
}
