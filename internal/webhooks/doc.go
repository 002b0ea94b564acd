// Package webhooks holds the operator's validating admission webhooks: the
// checks that need other objects and so cannot be CEL rules in the CRDs.
//
//   - A Tenant's spec.app.host is unique across Tenants.
//   - Broadcasts, ErasureRequests and PolicyUpdates live in a tenant
//     namespace; every reference they hold (Secrets, ConfigMaps) resolves in
//     that namespace, so none can reach another tenant's objects.
//   - An ErasureRequest's subject Secret exists and holds exactly one
//     identifier of the right shape.
//
// The CRDs' own schema and CEL rules stay the first line of validation. The
// webhooks are registered with failurePolicy Ignore, for this project's
// kinds only, on create and update, outside the system namespaces: the
// operator being down never blocks the cluster, and the controllers repeat
// every check (a Stalled condition that names the problem) for objects that
// got in while it was.
//
// The webhook server's certificate comes from cert-manager (mounted files)
// or from the operator's own CA (see CertRotator), which also injects the CA
// bundle into the ValidatingWebhookConfiguration.
package webhooks
