package controllers

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// detailConditions are the Tenant's detail conditions in the order a
// platform engineer would look at them.
var detailConditions = []string{
	v1alpha1.ConditionNamespaceReady,
	v1alpha1.ConditionSecretsReady,
	v1alpha1.ConditionCertificateReady,
	v1alpha1.ConditionStoresReady,
	v1alpha1.ConditionAppAvailable,
}

// waitRequeue is how often a Tenant waiting on its stores or app looks again,
// besides the watches that wake it when they change.
const waitRequeue = 30 * time.Second

// summarize turns the detail conditions into the kstatus verdict: Ready when
// every detail is True; Reconciling while any is still False.
func (r *TenantReconciler) summarize(t *v1alpha1.Tenant) ctrl.Result {
	t.Status.Namespace = t.NamespaceName()
	t.Status.URL = "https://" + t.Spec.App.Host
	var pending []string
	var firstReason string
	for _, typ := range detailConditions {
		c := meta.FindStatusCondition(t.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionTrue {
			if typ == v1alpha1.ConditionAppAvailable && t.Spec.Suspend {
				continue
			}
			pending = append(pending, typ)
			if firstReason == "" && c != nil {
				firstReason = c.Reason
			}
		}
	}
	if len(pending) > 0 {
		if firstReason == "" {
			firstReason = "Progressing"
		}
		markReconciling(t, firstReason, fmt.Sprintf("waiting for %s", strings.Join(pending, ", ")))
		return ctrl.Result{RequeueAfter: waitRequeue}
	}
	if t.Spec.Suspend {
		markReady(t, "Suspended", "the tenant is provisioned and suspended: the app is scaled to zero and no new Jobs start")
	} else {
		markReady(t, "Provisioned", "the tenant is provisioned and serving at "+t.Status.URL)
	}
	return ctrl.Result{RequeueAfter: r.nextTimedEvent(t)}
}

// nextTimedEvent is when the next key rotation or certificate renewal is due.
func (r *TenantReconciler) nextTimedEvent(t *v1alpha1.Tenant) time.Duration {
	now := r.Clock.Now()
	next := 24 * time.Hour
	if k := t.Status.Keyring; k != nil && k.RotatedAt != nil {
		if d := k.RotatedAt.Add(t.Spec.Encryption.RotationInterval()).Sub(now); d < next {
			next = d
		}
	}
	if c := t.Status.Certificate; c != nil && c.RenewAt != nil {
		if d := c.RenewAt.Sub(now); d < next {
			next = d
		}
	}
	return max(next, time.Second)
}
