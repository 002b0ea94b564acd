package webhooks

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/controllers"
)

// +kubebuilder:webhook:path=/validate-inboxchat-io-v1alpha1-tenant,mutating=false,failurePolicy=ignore,sideEffects=None,groups=inboxchat.io,resources=tenants,verbs=create;update,versions=v1alpha1,name=vtenant.inboxchat.io,admissionReviewVersions=v1,timeoutSeconds=5

// TenantValidator refuses a Tenant whose host another Tenant serves, and
// warns when its namespace exists but cannot be adopted.
type TenantValidator struct {
	// Client lists Tenants through the host index (the manager's cache).
	Client client.Reader
	// APIReader reads namespaces the cache does not hold.
	APIReader client.Reader
}

var _ admission.Validator[*v1alpha1.Tenant] = &TenantValidator{}

// ValidateCreate checks a new Tenant.
func (v *TenantValidator) ValidateCreate(ctx context.Context, t *v1alpha1.Tenant) (admission.Warnings, error) {
	if err := v.checkHost(ctx, t); err != nil {
		return nil, err
	}
	return v.namespaceWarnings(ctx, t), nil
}

// ValidateUpdate checks a changed host. Other updates pass, so a Tenant
// that got in while the webhook was down can still be fixed or deleted.
func (v *TenantValidator) ValidateUpdate(ctx context.Context, old, t *v1alpha1.Tenant) (admission.Warnings, error) {
	if !t.DeletionTimestamp.IsZero() || controllers.NormalizeHost(old.Spec.App.Host) == controllers.NormalizeHost(t.Spec.App.Host) {
		return nil, nil
	}
	return nil, v.checkHost(ctx, t)
}

// ValidateDelete allows every deletion (no webhook is registered for it).
func (v *TenantValidator) ValidateDelete(context.Context, *v1alpha1.Tenant) (admission.Warnings, error) {
	return nil, nil
}

// checkHost refuses a host that another Tenant already has.
func (v *TenantValidator) checkHost(ctx context.Context, t *v1alpha1.Tenant) error {
	list := &v1alpha1.TenantList{}
	if err := v.Client.List(ctx, list, client.MatchingFields{controllers.IndexTenantHost: controllers.NormalizeHost(t.Spec.App.Host)}); err != nil {
		return apierrors.NewInternalError(fmt.Errorf("listing Tenants by host: %w", err))
	}
	for _, o := range list.Items {
		if o.Name != t.Name {
			return invalid(t, field.Duplicate(field.NewPath("spec", "app", "host"), t.Spec.App.Host),
				fmt.Sprintf("Tenant %s already serves this host; every tenant needs its own host", o.Name))
		}
	}
	return nil
}

// namespaceWarnings warns when the tenant namespace exists without the label
// that lets the Tenant adopt it: the Tenant will be Stalled until it is
// labelled.
func (v *TenantValidator) namespaceWarnings(ctx context.Context, t *v1alpha1.Tenant) admission.Warnings {
	ns := &corev1.Namespace{}
	if err := v.APIReader.Get(ctx, client.ObjectKey{Name: t.NamespaceName()}, ns); err != nil {
		return nil
	}
	if ns.Labels[v1alpha1.LabelTenant] != t.Name {
		return admission.Warnings{fmt.Sprintf("namespace %s already exists without the label %s=%s: the Tenant will not adopt it until it is labelled",
			ns.Name, v1alpha1.LabelTenant, t.Name)}
	}
	return nil
}
