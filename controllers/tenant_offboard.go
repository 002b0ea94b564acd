package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
)

const offboardReportName = "inboxchat-offboard-report"

// hasExternalStores reports whether the tenant's data lives (partly)
// outside its namespace, where deleting the namespace does not erase it.
func hasExternalStores(t *v1alpha1.Tenant) bool {
	return t.Spec.Stores.Database.External != nil || (t.Spec.Stores.Sessions != nil && t.Spec.Stores.Sessions.External != nil)
}

// offboardingReceipt is what outlives the tenant, in the operator's
// namespace: counts and hashes, no personal data.
type offboardingReceipt struct {
	Tenant          string          `json:"tenant"`
	UID             string          `json:"uid"`
	Policy          string          `json:"policy"`
	CompletedAt     string          `json:"completedAt"`
	ExternalStores  json.RawMessage `json:"externalStores,omitempty"`
	ManagedStores   string          `json:"managedStores"`
	PreviousReceipt string          `json:"previousReceipt,omitempty"`
}

// offboardErase erases a confirmed tenant: the external stores through the
// data map by the offboard worker (verified by re-query), then a receipt in
// the operator namespace, then the namespace with the managed stores'
// volumes. A failed erasure stops there -- nothing is deleted that a retry
// would need (keyring, credentials) -- and says so.
func (r *TenantReconciler) offboardErase(ctx context.Context, t *v1alpha1.Tenant) (bool, error) {
	ns := &corev1.Namespace{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Name: t.NamespaceName()}, ns)
	if apierrors.IsNotFound(err) || (err == nil && ns.Labels[v1alpha1.LabelTenant] != t.Name) {
		return true, nil // never delete a namespace this Tenant does not own
	}
	if err != nil {
		return false, err
	}
	if !ns.DeletionTimestamp.IsZero() {
		return true, nil
	}
	var external json.RawMessage
	if hasExternalStores(t) {
		report, done, err := r.runOffboardWorker(ctx, t)
		if err != nil || !done {
			return false, err
		}
		external = json.RawMessage(report)
	}
	if err := r.writeOffboardingReceipt(ctx, t, external); err != nil {
		return false, err
	}
	if err := r.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
		return false, err
	}
	return true, nil
}

// runOffboardWorker runs the offboard Job and returns its verified report.
func (r *TenantReconciler) runOffboardWorker(ctx context.Context, t *v1alpha1.Tenant) (string, bool, error) {
	sa, role, rb, report, job := desiredTenantWorker(t, r.Worker, "offboard", offboardReportName)
	if err := r.applyAll(ctx, t, sa, role, rb); err != nil {
		return "", false, err
	}
	cm := &corev1.ConfigMap{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(report), cm); apierrors.IsNotFound(err) {
		if err := r.applyAll(ctx, t, report); err != nil {
			return "", false, err
		}
	} else if err != nil {
		return "", false, err
	}
	cur := &batchv1.Job{}
	err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(job), cur)
	if apierrors.IsNotFound(err) {
		if err := r.applyAll(ctx, t, job); err != nil {
			return "", false, err
		}
		r.event(t, corev1.EventTypeNormal, "Offboarding", "Offboard", "erasing the tenant's external stores through the data map (Job %s)", job.Name)
		markReconciling(t, "Offboarding", "erasing the tenant's external stores through the data map")
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	switch outcome, why := outcomeOf(cur); outcome {
	case jobRunning:
		markReconciling(t, "Offboarding", "erasing the tenant's external stores through the data map")
		return "", false, nil
	case jobFailed:
		msg := "offboarding stopped: " + why + "; the namespace, keyring and credentials are kept so it can be retried (delete the Job " + job.Name + " to retry)"
		markStalled(t, "OffboardingFailed", msg)
		return "", false, nil
	}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(report), cm); err != nil {
		return "", false, err
	}
	if cm.Data["verified"] != "true" {
		markStalled(t, "OffboardingNotVerified", "the offboard worker finished without verifying that the external stores are empty")
		return "", false, nil
	}
	return cm.Data["stores"], true, nil
}

// writeOffboardingReceipt records the offboarding in the operator namespace,
// chained to the tenant's last erasure receipt. It is written once.
func (r *TenantReconciler) writeOffboardingReceipt(ctx context.Context, t *v1alpha1.Tenant, external json.RawMessage) error {
	name := fmt.Sprintf("inboxchat-offboarded-%s-%s", t.Name, string(t.UID)[:8])
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.OperatorNamespace, Name: name}, &corev1.ConfigMap{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	rec := offboardingReceipt{Tenant: t.Name, UID: string(t.UID), Policy: string(v1alpha1.OffboardingErase),
		CompletedAt: r.Clock.Now().UTC().Format(time.RFC3339), ExternalStores: external,
		ManagedStores: "deleted with namespace " + t.NamespaceName(), PreviousReceipt: t.Status.LastReceipt}
	payload, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	receipt := crypto.NextReceipt(t.Status.LastReceipt, payload)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.OperatorNamespace, Labels: map[string]string{
			v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, v1alpha1.LabelTenant: t.Name, "inboxchat.io/receipt": "offboarding"}},
		Data: map[string]string{"receipt": receipt, "payload": string(payload)},
	}
	if err := r.Create(ctx, cm, fieldOwner); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("writing the offboarding receipt in namespace %s: %w", r.OperatorNamespace, err)
	}
	r.event(t, corev1.EventTypeNormal, "OffboardingReceipt", "Offboard", "wrote offboarding receipt %s/%s (%s)", r.OperatorNamespace, name, receipt)
	return nil
}
