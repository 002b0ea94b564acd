package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// IndexTenantHost indexes Tenants by their lower-cased spec.app.host, for
// the admission webhook and for the controller's own check.
const IndexTenantHost = "spec.app.host"

// hostConflictRequeue is how often a Tenant that lost a host conflict looks
// again (the other Tenant may have been deleted or moved).
const hostConflictRequeue = time.Minute

// SetupIndexes registers the field indexes that the controllers and the
// webhooks list by. Call it once per manager, before they start.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.Tenant{}, IndexTenantHost, func(obj client.Object) []string {
		if h := NormalizeHost(obj.(*v1alpha1.Tenant).Spec.App.Host); h != "" {
			return []string{h}
		}
		return nil
	})
}

// NormalizeHost is the form hosts are compared in: lower case, without a
// trailing dot.
func NormalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// HostOwner returns the Tenant other than t that holds t's host, or nil: of
// the Tenants that ask for the same host, the one created first (then the
// first by name) holds it. The admission webhook refuses a second Tenant for
// a host; this check covers Tenants created while the webhook was down.
func HostOwner(ctx context.Context, c client.Reader, t *v1alpha1.Tenant) (*v1alpha1.Tenant, error) {
	list := &v1alpha1.TenantList{}
	if err := c.List(ctx, list, client.MatchingFields{IndexTenantHost: NormalizeHost(t.Spec.App.Host)}); err != nil {
		return nil, err
	}
	var owner *v1alpha1.Tenant
	for i := range list.Items {
		o := &list.Items[i]
		if o.Name == t.Name || !holdsBefore(o, t) {
			continue
		}
		if owner == nil || holdsBefore(o, owner) {
			owner = o
		}
	}
	return owner, nil
}

// holdsBefore reports whether a's claim on a host comes before b's.
func holdsBefore(a, b *v1alpha1.Tenant) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// reconcileHost stops a Tenant whose host another Tenant already serves:
// provisioning it would put two Ingresses on one host, and the ingress
// controller would route one tenant's users to the other.
func (r *TenantReconciler) reconcileHost(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	owner, err := HostOwner(ctx, r.Client, t)
	if err != nil || owner == nil {
		return nil, err
	}
	msg := fmt.Sprintf("host %s is already served by Tenant %s; choose another spec.app.host", t.Spec.App.Host, owner.Name)
	markStalled(t, "HostConflict", msg)
	return &ctrl.Result{RequeueAfter: hostConflictRequeue}, nil
}
