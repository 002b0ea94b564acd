package erasure

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// Keyring seals and opens values with the tenant keyring; *crypto.Keyring is
// one.
type Keyring interface {
	// Seal encrypts plaintext bound to associatedData.
	Seal(plaintext, associatedData []byte) ([]byte, error)
	// Open decrypts what Seal made with the same associatedData.
	Open(ciphertext, associatedData []byte) ([]byte, error)
}

// Retention holds the tenant's retention periods (Tenant spec.retention),
// which data map periods such as "retention.securityLogs" refer to.
type Retention struct {
	// SecurityLogs is how long security-log rows are kept.
	SecurityLogs time.Duration
	// Exports is how long an export stays on the files volume.
	Exports time.Duration
}

// settings returns the periods by Tenant field name, for
// datamap.Period.Resolve; unset periods are left out.
func (r Retention) settings() map[string]time.Duration {
	s := map[string]time.Duration{}
	if r.SecurityLogs > 0 {
		s["securityLogs"] = r.SecurityLogs
	}
	if r.Exports > 0 {
		s["exports"] = r.Exports
	}
	return s
}

// Stores are a tenant's stores and secrets, as the erase worker gets them.
// Each binds to the data map's store of its kind.
type Stores struct {
	// DB is the tenant database (the sql store). It also holds the
	// erasure_ledger and legal_holds tables, so it is always required. A
	// MySQL DSN must set parseTime=true.
	DB *sql.DB
	// Engine is DB's engine.
	Engine schema.Engine
	// Redis is the session store (the redis store), a single server:
	// required when the map has a redis store.
	Redis *redis.Client
	// FilesRoot is the root of the files volume (the files store, and
	// exports/): required when the map has a files store or an export is
	// asked for.
	FilesRoot string
	// Keyring opens encrypted fields for exports and seals the archive:
	// required for exports.
	Keyring Keyring
	// BlindIndexKey is the tenant's blind-index key: e-mail and PSID
	// lookups and the subject fingerprint use it.
	BlindIndexKey []byte
	// HashKey is the key of the data map's "hash" strategy. When nil, a key
	// derived from BlindIndexKey is used.
	HashKey []byte
	// Retention holds the tenant's retention periods.
	Retention Retention
}

// validate checks that the stores the map names are there.
func (s Stores) validate(m *datamap.Map) error {
	var errs []error
	if s.DB == nil {
		errs = append(errs, errors.New("stores: DB is nil (the database holds the erasure ledger)"))
	}
	if s.Engine.DriverName() == "" {
		errs = append(errs, fmt.Errorf("stores: engine %q is not %q or %q", s.Engine, schema.Postgres, schema.MySQL))
	}
	if len(s.BlindIndexKey) == 0 {
		errs = append(errs, errors.New("stores: BlindIndexKey is empty"))
	}
	for _, st := range m.Stores {
		switch {
		case st.Kind == datamap.Redis && s.Redis == nil:
			errs = append(errs, fmt.Errorf("stores: the data map's redis store %q needs a Redis client", st.Name))
		case st.Kind == datamap.Files && s.FilesRoot == "":
			errs = append(errs, fmt.Errorf("stores: the data map's files store %q needs FilesRoot", st.Name))
		}
	}
	return errors.Join(errs...)
}
