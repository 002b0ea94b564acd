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
	Tenant         string          `json:"tenant"`
	UID            string          `json:"uid"`
	Policy         string          `json:"policy"`
	CompletedAt    string          `json:"completedAt"`
	ExternalStores json.RawMessage `json:"externalStores,omitempty"`
	// Stores are the offboard worker's per-store counts when it erased
	// every store (an export was asked for).
	Stores        json.RawMessage `json:"stores,omitempty"`
	ManagedStores string          `json:"managedStores"`
	// Export locates the export kept in the tenant namespace.
	Export          *offboardingExport `json:"export,omitempty"`
	PreviousReceipt string             `json:"previousReceipt,omitempty"`
}

// offboardingExport is the whole-tenant export the offboard worker made:
// its manifest on the files volume, the manifest's SHA-256, and when the
// namespace that keeps it is deleted.
type offboardingExport struct {
	Namespace string `json:"namespace"`
	Claim     string `json:"claim"`
	Location  string `json:"location"`
	SHA256    string `json:"sha256"`
	ExpiresAt string `json:"expiresAt"`
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
	rec := r.newOffboardingReceipt(t)
	rec.ManagedStores = "deleted with namespace " + t.NamespaceName()
	if hasExternalStores(t) {
		report, done, err := r.runOffboardWorker(ctx, t, false)
		if err != nil || !done {
			return false, err
		}
		rec.ExternalStores = json.RawMessage(report.Data[reportStores])
	}
	if _, err := r.writeOffboardingReceipt(ctx, t, rec); err != nil {
		return false, err
	}
	if err := r.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
		return false, err
	}
	return true, nil
}

// Keys of the offboard worker's report ConfigMap (cmd/offboard.go).
const (
	reportStores          = "stores"
	reportVerified        = "verified"
	reportExportLocation  = "exportLocation"
	reportExportSHA256    = "exportSHA256"
	reportExportExpiresAt = "exportExpiresAt"
	reportExportError     = "exportError"
	reportLegalHolds      = "legalHolds"
)

// runOffboardWorker runs the offboard Job and returns its verified report.
// With export, the Job first exports the whole tenant (--export=<tenant
// uid>) and erases every store but that export.
func (r *TenantReconciler) runOffboardWorker(ctx context.Context, t *v1alpha1.Tenant, export bool) (*corev1.ConfigMap, bool, error) {
	sa, role, rb, report, job := desiredTenantWorker(t, r.Worker, "offboard", offboardReportName)
	doing := "erasing the tenant's external stores through the data map"
	if export {
		c := &job.Spec.Template.Spec.Containers[0]
		c.Args = append(c.Args, "--export="+string(t.UID))
		doing = "exporting the whole tenant to its files volume, then erasing every store through the data map"
	}
	if err := r.applyAll(ctx, t, sa, role, rb); err != nil {
		return nil, false, err
	}
	cm := &corev1.ConfigMap{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(report), cm); apierrors.IsNotFound(err) {
		if err := r.applyAll(ctx, t, report); err != nil {
			return nil, false, err
		}
	} else if err != nil {
		return nil, false, err
	}
	cur := &batchv1.Job{}
	err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(job), cur)
	if apierrors.IsNotFound(err) {
		if err := r.applyAll(ctx, t, job); err != nil {
			return nil, false, err
		}
		r.event(t, corev1.EventTypeNormal, "Offboarding", "Offboard", "%s (Job %s)", doing, job.Name)
		markReconciling(t, "Offboarding", doing)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	outcome, why := outcomeOf(cur)
	if outcome == jobRunning {
		markReconciling(t, "Offboarding", doing)
		return nil, false, nil
	}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(report), cm); err != nil {
		return nil, false, err
	}
	switch {
	case outcome == jobFailed && export && cm.Data[reportExportError] != "":
		markStalled(t, "ExportFailed", "the whole-tenant export failed, so nothing was erased: "+cm.Data[reportExportError]+
			"; the namespace, keyring and credentials are kept (delete the Job "+job.Name+" to retry)")
		return nil, false, nil
	case outcome == jobFailed && cm.Data[reportLegalHolds] != "":
		markStalled(t, "LegalHoldsActive", cm.Data[reportLegalHolds]+" legal hold(s) in force in the tenant's database: erasing would destroy data the tenant must keep, so nothing was erased; "+
			"set spec.offboarding.exportBeforeDelete to hand everything back in an export first, or end the holds (held_until), then delete the Job "+job.Name+" to retry")
		return nil, false, nil
	case outcome == jobFailed:
		msg := "offboarding stopped: " + why + "; the namespace, keyring and credentials are kept so it can be retried (delete the Job " + job.Name + " to retry)"
		markStalled(t, "OffboardingFailed", msg)
		return nil, false, nil
	case cm.Data[reportVerified] != "true":
		markStalled(t, "OffboardingNotVerified", "the offboard worker finished without verifying that the stores are empty")
		return nil, false, nil
	case export && (cm.Data[reportExportSHA256] == "" || cm.Data[reportExportLocation] == ""):
		markStalled(t, "ExportMissing", "the offboard worker finished without reporting an export; delete the Job "+job.Name+" to run it again with the export")
		return nil, false, nil
	}
	return cm, true, nil
}

// newOffboardingReceipt starts the receipt of an Erase offboarding.
func (r *TenantReconciler) newOffboardingReceipt(t *v1alpha1.Tenant) offboardingReceipt {
	return offboardingReceipt{Tenant: t.Name, UID: string(t.UID), Policy: string(v1alpha1.OffboardingErase),
		CompletedAt: r.Clock.Now().UTC().Format(time.RFC3339), PreviousReceipt: t.Status.LastReceipt}
}

// offboardingReceiptName is the receipt ConfigMap's name in the operator
// namespace.
func offboardingReceiptName(t *v1alpha1.Tenant) string {
	return fmt.Sprintf("inboxchat-offboarded-%s-%s", t.Name, string(t.UID)[:8])
}

// writeOffboardingReceipt records the offboarding in the operator namespace,
// chained to the tenant's last erasure receipt, and returns the receipt. It
// is written once: a receipt already there is returned as it is.
func (r *TenantReconciler) writeOffboardingReceipt(ctx context.Context, t *v1alpha1.Tenant, rec offboardingReceipt) (string, error) {
	name := offboardingReceiptName(t)
	existing := &corev1.ConfigMap{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.OperatorNamespace, Name: name}, existing); err == nil {
		return existing.Data["receipt"], nil
	} else if !apierrors.IsNotFound(err) {
		return "", err
	}
	payload, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	receipt := crypto.NextReceipt(t.Status.LastReceipt, payload)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.OperatorNamespace, Labels: map[string]string{
			v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, v1alpha1.LabelTenant: t.Name, "inboxchat.io/receipt": "offboarding"}},
		Data: map[string]string{"receipt": receipt, "payload": string(payload)},
	}
	if err := r.Create(ctx, cm, fieldOwner); client.IgnoreAlreadyExists(err) != nil {
		return "", fmt.Errorf("writing the offboarding receipt in namespace %s: %w", r.OperatorNamespace, err)
	}
	r.event(t, corev1.EventTypeNormal, "OffboardingReceipt", "Offboard", "wrote offboarding receipt %s/%s (%s)", r.OperatorNamespace, name, receipt)
	return receipt, nil
}
