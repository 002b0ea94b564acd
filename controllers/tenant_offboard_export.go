package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// Marks of a namespace that an offboarded tenant left behind to keep its
// export: the label says when the namespace is deleted (Unix seconds), the
// annotations which Tenant left it and where the export is.
const (
	LabelExportExpiresAt     = "inboxchat.io/export-expires-at"
	annotationExportOf       = "inboxchat.io/export-of"
	annotationExportLocation = "inboxchat.io/export-location"
	annotationExportSHA256   = "inboxchat.io/export-sha256"
)

// keptForExport are the objects of a tenant namespace that keep an export
// readable: the files volume that holds it, the keyring Secret that opens
// it, and what Kubernetes itself puts in every namespace.
func keptForExport(obj client.Object) bool {
	switch obj.(type) {
	case *corev1.PersistentVolumeClaim:
		return obj.GetName() == filesClaimName
	case *corev1.Secret:
		return obj.GetName() == keyringSecretName
	case *corev1.ConfigMap:
		return obj.GetName() == "kube-root-ca.crt"
	case *corev1.ServiceAccount:
		return obj.GetName() == "default"
	}
	return false
}

// offboardExport offboards a confirmed tenant that asked for an export
// first (spec.offboarding.exportBeforeDelete):
//
//  1. the app, the unsubscribe server, the Ingress and the prune CronJob
//     are deleted, so that nothing writes while the export runs;
//  2. the offboard worker exports every store to exports/offboarding-<tenant
//     uid>/ on the files volume, then erases everything the data map names
//     but that export, and verifies (nothing is erased when the export
//     fails);
//  3. the namespace, the files volume and the keyring Secret are released
//     from the Tenant, and the namespace is labelled with the export's
//     expiry (ExportExpiryReconciler deletes it then);
//  4. the receipt, with the export's location, digest and expiry, is
//     written in the operator namespace.
//
// It returns the export and the receipt once all of it is done; the caller
// then notifies the admins (the SMTP Secret is still there) and empties the
// namespace with deleteAllButExport. Every step may run again: a receipt
// with the export means that all of them are done.
func (r *TenantReconciler) offboardExport(ctx context.Context, t *v1alpha1.Tenant) (*offboardingExport, string, bool, error) {
	nsName := t.NamespaceName()
	prev, receipt, err := r.readOffboardingReceipt(ctx, t)
	if err != nil {
		return nil, "", false, err
	}
	ns := &corev1.Namespace{}
	err = r.APIReader.Get(ctx, client.ObjectKey{Name: nsName}, ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, "", false, err
	}
	ours := err == nil && ns.Labels[v1alpha1.LabelTenant] == t.Name && ns.DeletionTimestamp.IsZero()
	switch {
	case prev != nil && prev.Export != nil:
		return prev.Export, receipt, true, nil
	case !ours:
		markStalled(t, "ExportNotPossible", fmt.Sprintf(
			"namespace %s is gone, terminating or not this tenant's, so nothing can be exported; clear spec.offboarding.exportBeforeDelete to finish offboarding without an export", nsName))
		return nil, "", false, nil
	}

	if err := r.quiesce(ctx, t); err != nil {
		return nil, "", false, err
	}
	report, done, err := r.runOffboardWorker(ctx, t, true)
	if err != nil || !done {
		return nil, "", false, err
	}
	expiresAt, err := time.Parse(time.RFC3339, report.Data[reportExportExpiresAt])
	if err != nil {
		markStalled(t, "ExportMissing", "the offboard worker reported an export without a valid expiry")
		return nil, "", false, nil
	}
	exp := &offboardingExport{Namespace: nsName, Claim: filesClaimName, Location: report.Data[reportExportLocation],
		SHA256: report.Data[reportExportSHA256], ExpiresAt: expiresAt.UTC().Format(time.RFC3339)}
	if err := r.keepExport(ctx, t, ns, exp, expiresAt); err != nil {
		return nil, "", false, err
	}
	rec := r.newOffboardingReceipt(t)
	rec.Stores = json.RawMessage(report.Data[reportStores])
	rec.ManagedStores = "erased through the data map by the offboard worker (see stores); the store workloads and volumes in namespace " +
		nsName + " deleted; the files volume " + filesClaimName + " and the keyring Secret " + keyringSecretName + " kept with the export until its expiry"
	rec.Export = exp
	if receipt, err = r.writeOffboardingReceipt(ctx, t, rec); err != nil {
		return nil, "", false, err
	}
	return exp, receipt, true, nil
}

// readOffboardingReceipt reads the tenant's offboarding receipt, if it was
// written.
func (r *TenantReconciler) readOffboardingReceipt(ctx context.Context, t *v1alpha1.Tenant) (*offboardingReceipt, string, error) {
	cm := &corev1.ConfigMap{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.OperatorNamespace, Name: offboardingReceiptName(t)}, cm)
	if apierrors.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	rec := &offboardingReceipt{}
	if err := json.Unmarshal([]byte(cm.Data["payload"]), rec); err != nil {
		return nil, "", fmt.Errorf("reading the offboarding receipt %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return rec, cm.Data["receipt"], nil
}

// quiesce deletes what writes to the tenant's stores on its own -- the app,
// the unsubscribe server and the prune CronJob -- and the Ingress, before
// the export.
func (r *TenantReconciler) quiesce(ctx context.Context, t *v1alpha1.Tenant) error {
	ns := t.NamespaceName()
	for _, obj := range []client.Object{
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: ingressName, Namespace: ns}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: ns}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: unsubscribeName, Namespace: ns}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: pruneName, Namespace: ns}},
	} {
		if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		if err := r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// keepExport releases the namespace, the files volume and the keyring
// Secret from the Tenant, so that they outlive it, and marks the namespace
// with the export and its expiry.
func (r *TenantReconciler) keepExport(ctx context.Context, t *v1alpha1.Tenant, ns *corev1.Namespace, exp *offboardingExport, expiresAt time.Time) error {
	for _, obj := range []client.Object{
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: filesClaimName, Namespace: ns.Name}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: keyringSecretName, Namespace: ns.Name}},
	} {
		if err := r.release(ctx, t, obj); err != nil {
			return err
		}
	}
	updated := ns.DeepCopy()
	updated.OwnerReferences = slices.DeleteFunc(updated.OwnerReferences, func(ref metav1.OwnerReference) bool { return ref.UID == t.UID })
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	updated.Labels[LabelExportExpiresAt] = strconv.FormatInt(expiresAt.Unix(), 10)
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	updated.Annotations[annotationRetained] = string(t.UID)
	updated.Annotations[annotationExportOf] = string(t.UID)
	updated.Annotations[annotationExportLocation] = exp.Claim + ":" + exp.Location
	updated.Annotations[annotationExportSHA256] = exp.SHA256
	if equalLabelsAndOwners(ns, updated) {
		return nil
	}
	return r.Patch(ctx, updated, client.MergeFrom(ns), fieldOwner)
}

// deleteAllButExport deletes everything in the tenant namespace but what
// keeps the export readable (keptForExport), whether the operator made it
// or not: workloads, the store StatefulSets and their volumes, Jobs,
// Services, Ingresses, network policies, ConfigMaps, the other Secrets,
// ServiceAccounts and RBAC, the tenant's Broadcasts, ErasureRequests and
// PolicyUpdates, and a cert-manager Certificate.
func (r *TenantReconciler) deleteAllButExport(ctx context.Context, t *v1alpha1.Tenant) error {
	ns := t.NamespaceName()
	current := &corev1.Namespace{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: ns}, current); err != nil {
		return client.IgnoreNotFound(err)
	}
	if current.Labels[v1alpha1.LabelTenant] != t.Name || current.Annotations[annotationExportOf] != string(t.UID) {
		return nil // not the namespace this Tenant left its export in
	}
	lists := []client.ObjectList{
		&appsv1.DeploymentList{}, &appsv1.StatefulSetList{}, &batchv1.CronJobList{}, &batchv1.JobList{},
		&corev1.ServiceList{}, &networkingv1.IngressList{}, &networkingv1.NetworkPolicyList{}, &policyv1.PodDisruptionBudgetList{},
		&corev1.PersistentVolumeClaimList{}, &corev1.ConfigMapList{}, &corev1.SecretList{}, &corev1.ServiceAccountList{},
		&rbacv1.RoleBindingList{}, &rbacv1.RoleList{},
		&v1alpha1.BroadcastList{}, &v1alpha1.ErasureRequestList{}, &v1alpha1.PolicyUpdateList{},
	}
	certs := &unstructured.UnstructuredList{}
	certs.SetGroupVersionKind(certificateGVK.GroupVersion().WithKind(certificateGVK.Kind + "List"))
	lists = append(lists, certs)
	deleted := 0
	for _, list := range lists {
		if err := r.APIReader.List(ctx, list, client.InNamespace(ns)); meta.IsNoMatchError(err) {
			continue // cert-manager is not installed
		} else if err != nil {
			return err
		}
		err := meta.EachListItem(list, func(o runtime.Object) error {
			obj, ok := o.(client.Object)
			if !ok || keptForExport(obj) || !obj.GetDeletionTimestamp().IsZero() {
				return nil
			}
			if err := r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return err
			}
			deleted++
			return nil
		})
		if err != nil {
			return err
		}
	}
	if deleted > 0 {
		r.event(t, corev1.EventTypeNormal, "NamespaceEmptied", "Offboard",
			"deleted %d objects in namespace %s; it keeps only the files volume %s with the export and the keyring Secret %s", deleted, ns, filesClaimName, keyringSecretName)
	}
	return nil
}
