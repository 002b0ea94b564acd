package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

// Notifier e-mails a tenant's admins ("Notify me"). data is the notice's
// data type from the mail package (mail.TenantReadyData, ...), which has no
// field for personal data.
type Notifier interface {
	Notify(ctx context.Context, t *v1alpha1.Tenant, kind mail.Kind, data any) error
}

// notify sends a notice when the tenant has admins and an SMTP Secret. A
// failure never blocks reconciliation: it becomes a Warning event and the
// condition NotificationsDelivered=False.
func (r *TenantReconciler) notify(ctx context.Context, t *v1alpha1.Tenant, kind mail.Kind, data any) {
	if r.Notifier == nil || len(t.Spec.Admins) == 0 || t.Spec.Notifications.SMTPSecretRef == nil {
		return
	}
	if err := r.Notifier.Notify(ctx, t, kind, data); err != nil {
		log.FromContext(ctx).Info("e-mail notice failed", "notice", kind, "error", err.Error())
		r.event(t, corev1.EventTypeWarning, "NotificationFailed", "Notify", "the %s e-mail to the tenant admins failed: %v", kind, err)
		setCondition(t, v1alpha1.ConditionNotificationsDelivered, metav1.ConditionFalse, "NotificationFailed",
			"the "+string(kind)+" e-mail to the tenant admins failed: "+err.Error())
		return
	}
	r.event(t, corev1.EventTypeNormal, "NotificationSent", "Notify", "e-mailed the tenant admins: %s", kind)
	setCondition(t, v1alpha1.ConditionNotificationsDelivered, metav1.ConditionTrue, "Delivered", "the last notice ("+string(kind)+") was accepted by the SMTP server")
}

// sendNotice e-mails a tenant's admins about an event of another object
// (an ErasureRequest, a PolicyUpdate); failures become a Warning event on
// that object and never block it.
func sendNotice(ctx context.Context, n Notifier, rec events.EventRecorder, regarding runtime.Object, t *v1alpha1.Tenant, kind mail.Kind, data any) {
	if n == nil || t == nil || len(t.Spec.Admins) == 0 || t.Spec.Notifications.SMTPSecretRef == nil {
		return
	}
	if err := n.Notify(ctx, t, kind, data); err != nil {
		log.FromContext(ctx).Info("e-mail notice failed", "notice", kind, "error", err.Error())
		if rec != nil {
			rec.Eventf(regarding, nil, corev1.EventTypeWarning, "NotificationFailed", "Notify", "the %s e-mail to the tenant admins failed: %v", kind, err)
		}
		return
	}
	if rec != nil {
		rec.Eventf(regarding, nil, corev1.EventTypeNormal, "NotificationSent", "Notify", "e-mailed the tenant admins: %s", kind)
	}
}

// displayName is the tenant's display name, or its name.
func displayName(t *v1alpha1.Tenant) string {
	if t.Spec.DisplayName != "" {
		return t.Spec.DisplayName
	}
	return t.Name
}
