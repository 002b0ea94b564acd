package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// errNoTenant means a namespaced object is not in a tenant namespace.
type errNoTenant struct{ namespace string }

func (e errNoTenant) Error() string {
	return fmt.Sprintf("namespace %s is not a tenant namespace (no Tenant provisions it); create InboxChat objects in a namespace tenant-<name>", e.namespace)
}

// tenantOf finds the Tenant that provisions a namespace, through the
// namespace's inboxchat.io/tenant label.
func tenantOf(ctx context.Context, c client.Reader, namespace string) (*v1alpha1.Tenant, error) {
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	name := ns.Labels[v1alpha1.LabelTenant]
	if name == "" {
		return nil, errNoTenant{namespace}
	}
	t := &v1alpha1.Tenant{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, t); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if t.NamespaceName() != namespace {
		return nil, errNoTenant{namespace}
	}
	return t, nil
}

// tenantReady reports whether the Tenant is Ready and not suspended, and
// otherwise why a worker cannot run yet.
func tenantReady(t *v1alpha1.Tenant) (bool, string) {
	switch {
	case t == nil:
		return false, "the tenant does not exist"
	case !t.DeletionTimestamp.IsZero():
		return false, "the tenant is being deleted"
	case t.Spec.Suspend:
		return false, fmt.Sprintf("tenant %s is suspended; no new Jobs start until spec.suspend is cleared", t.Name)
	case !meta.IsStatusConditionTrue(t.Status.Conditions, v1alpha1.ConditionReady):
		return false, fmt.Sprintf("waiting for tenant %s to be Ready", t.Name)
	}
	return true, ""
}
