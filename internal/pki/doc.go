// Package pki is the operator's own certificate authority, for tenants
// without cert-manager: an ECDSA P-256 CA that issues serving certificates
// for tenant hosts and managed stores, and says when a certificate is due
// for renewal (two thirds into its lifetime, when expired or not yet valid,
// or when its hosts changed). Certificates and keys travel as PEM, as in a
// kubernetes.io/tls Secret. It has no Kubernetes imports, and every function
// takes the current time from its caller.
package pki
