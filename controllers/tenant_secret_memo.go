package controllers

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// The cache holds the generated Secrets without their data, so checking them
// meant reading each through the API on every pass: 15 reads per Tenant
// provisioned. secretMemo remembers, per Secret, what a full read found -- no
// values, only what the checks derive from them -- together with the
// observed hash of the Secret at that read. As long as the cache's copy has
// the same hash, nothing about the Secret changed (data, labels and owner
// are all in the hash), and the facts stand without a read. Any change by
// anyone gives a new hash, and the next pass reads and checks again.
type secretMemo struct{ facts uidMemo[secretFacts] }

// secretFacts are what was found in a Secret that needed no change.
type secretFacts struct {
	observed string
	// keyring: the keyring's status (generated Secrets need no facts: that
	// they were complete and adopted is the fact).
	keyring *v1alpha1.KeyringStatus
	// cert: the certificate, checked good for certHosts at checkedAt (so
	// valid from then until it is due for renewal).
	cert      *issuedCertificate
	certHosts string
	checkedAt time.Time
}

// lookup returns the facts remembered for the Secret the cache holds under
// ns/name, when the cache's copy is the one they were found in.
func (m *secretMemo) lookup(ctx context.Context, c client.Reader, ns, name string) (secretFacts, bool) {
	cached := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cached); err != nil {
		return secretFacts{}, false
	}
	observed := ObservedHashOf(cached)
	if observed == "" {
		return secretFacts{}, false
	}
	f, ok := m.facts.get(cached.UID)
	return f, ok && f.observed == observed
}

// remember records facts found in a full read of s, which was left as read.
func (m *secretMemo) remember(s *corev1.Secret, f secretFacts) {
	observed, err := ObservedHash(s)
	if err != nil || s.UID == "" {
		return
	}
	f.observed = observed
	m.facts.put(s.UID, f)
}

// hostsKey identifies a certificate's host list.
func hostsKey(hosts []string) string { return strings.Join(hosts, ",") }

// certStillGood reports whether remembered certificate facts answer for
// hosts at now: the same hosts, and now between the check and renewal.
func (f secretFacts) certStillGood(hosts []string, now time.Time) bool {
	return f.cert != nil && f.certHosts == hostsKey(hosts) && !now.Before(f.checkedAt) && now.Before(f.cert.RenewAt)
}

// keyringStillGood reports whether a remembered keyring needs no rotation
// at now.
func (f secretFacts) keyringStillGood(now time.Time, interval time.Duration) bool {
	k := f.keyring
	return k != nil && k.ActiveKeyID != "" && k.RotatedAt != nil && now.Before(k.RotatedAt.Add(interval))
}
