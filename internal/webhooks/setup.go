package webhooks

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// Setup registers the validating webhooks of the four kinds with the
// manager's webhook server. The Tenant host index (controllers.SetupIndexes)
// must be registered first.
func Setup(mgr ctrl.Manager) error {
	reader := mgr.GetAPIReader()
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.Tenant{}).
		WithValidator(&TenantValidator{Client: mgr.GetClient(), APIReader: reader}).RecoverPanic(true).Complete(); err != nil {
		return err
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.Broadcast{}).
		WithValidator(&TenantScopedValidator[*v1alpha1.Broadcast]{APIReader: reader}).RecoverPanic(true).Complete(); err != nil {
		return err
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.PolicyUpdate{}).
		WithValidator(&TenantScopedValidator[*v1alpha1.PolicyUpdate]{APIReader: reader}).RecoverPanic(true).Complete(); err != nil {
		return err
	}
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.ErasureRequest{}).
		WithValidator(&TenantScopedValidator[*v1alpha1.ErasureRequest]{APIReader: reader}).RecoverPanic(true).Complete()
}
