package v1alpha1

import (
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of the duration and size fields, the same as the CRD's defaults,
// for objects built in Go that have not been through the API server.
const (
	DefaultKeyRotationInterval = 90 * 24 * time.Hour
	DefaultSessionTTL          = 24 * time.Hour
	DefaultSecurityLogs        = 30 * 24 * time.Hour
	DefaultExports             = 7 * 24 * time.Hour
)

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}

func quantityOr(q *resource.Quantity, def string) resource.Quantity {
	if q == nil || q.IsZero() {
		return resource.MustParse(def)
	}
	return *q
}

// RotationInterval is how often the keyring rotates.
func (e EncryptionSpec) RotationInterval() time.Duration {
	return durationOr(e.KeyRotationInterval, DefaultKeyRotationInterval)
}

// SessionTTL is the lifetime of a session.
func (s SessionsSpec) SessionTTL() time.Duration { return durationOr(s.TTL, DefaultSessionTTL) }

// SecurityLogsPeriod is how long security-log rows are kept.
func (r RetentionSpec) SecurityLogsPeriod() time.Duration {
	return durationOr(r.SecurityLogs, DefaultSecurityLogs)
}

// ExportsPeriod is how long exports are kept.
func (r RetentionSpec) ExportsPeriod() time.Duration { return durationOr(r.Exports, DefaultExports) }

// StorageSize is the database volume size.
func (m ManagedDatabase) StorageSize() resource.Quantity { return quantityOr(m.Storage, "10Gi") }

// StorageSize is the Redis volume size.
func (m ManagedSessions) StorageSize() resource.Quantity { return quantityOr(m.Storage, "1Gi") }

// StorageSize is the files volume size.
func (f FilesStore) StorageSize() resource.Quantity { return quantityOr(f.Storage, "5Gi") }

// AppReplicas is the desired number of app replicas.
func (a AppSpec) AppReplicas() int32 {
	if a.Replicas == nil {
		return 2
	}
	return *a.Replicas
}

// OffboardingPolicyOrDefault is the offboarding policy, Erase when unset.
func (o OffboardingSpec) OffboardingPolicyOrDefault() OffboardingPolicy {
	if o.Policy == "" {
		return OffboardingErase
	}
	return o.Policy
}
