// Package crypto holds the tenant's cryptography: the versioned AES-256-GCM
// keyring that encrypts personal data at rest, the HMAC blind index used to
// look encrypted fields up, signed unsubscribe tokens, subject fingerprints
// and the erasure receipt chain. It has no Kubernetes imports; the keyring
// serialises to the data of a Secret.
package crypto
