package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

// reconcileDelete runs offboarding and then releases the finalizer.
//
// Retain keeps the namespace with the tenant's data (store volumes, files
// volume) and the Secrets needed to read it (keyring, credentials), releases
// them from the Tenant so garbage collection leaves them, and removes the
// rest; a Tenant of the same name created later adopts them again.
//
// Erase is irreversible, so it runs only after the annotation
// inboxchat.io/confirm-erase names the Tenant. Without it nothing is erased:
// the Tenant waits with a Stalled condition that says what to do. A pipeline
// that deletes a Tenant, or a reinstalled CRD, never wipes a tenant by itself.
//
// Erase with spec.offboarding.exportBeforeDelete exports the whole tenant
// first and keeps the export, with the namespace, its files volume and its
// keyring Secret, until the export expires (see offboardExport).
func (r *TenantReconciler) reconcileDelete(ctx context.Context, t *v1alpha1.Tenant) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(t, TenantFinalizer) {
		return ctrl.Result{}, nil
	}
	// The cache may still show the finalizer that the last reconcile
	// removed: offboarding (and its notice) happens once.
	fresh := &v1alpha1.Tenant{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(t), fresh); err != nil || !controllerutil.ContainsFinalizer(fresh, TenantFinalizer) {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	original := t.DeepCopy()
	switch t.Spec.Offboarding.OffboardingPolicyOrDefault() {
	case v1alpha1.OffboardingRetain:
		if err := r.retainData(ctx, t); err != nil {
			return ctrl.Result{}, err
		}
		r.event(t, corev1.EventTypeNormal, "Offboarded", "Offboard", "offboarded with policy Retain: namespace %s keeps the data volumes, keyring and credentials", t.NamespaceName())
		r.notify(ctx, t, mail.KindTenantOffboarded, mail.TenantOffboardedData{Tenant: t.Name, Policy: "Retain", CompletedAt: r.Clock.Now()})
	default:
		if t.Annotations[v1alpha1.AnnotationConfirmErase] != t.Name {
			msg := fmt.Sprintf("deleting this Tenant erases all of its data irreversibly; to proceed, annotate it %s=%s, or set spec.offboarding.policy to Retain to keep the data",
				v1alpha1.AnnotationConfirmErase, t.Name)
			markStalled(t, "ErasureNotConfirmed", msg)
			if err := r.patchStatus(ctx, original, t); err != nil {
				return ctrl.Result{}, err
			}
			if !conditionWas(original, v1alpha1.ConditionStalled, "ErasureNotConfirmed") {
				r.event(t, corev1.EventTypeWarning, "ErasureNotConfirmed", "Offboard", "%s", msg)
			}
			return ctrl.Result{}, nil
		}
		if t.Spec.Offboarding.ExportBeforeDelete {
			exp, receipt, done, err := r.offboardExport(ctx, t)
			if err != nil || !done {
				if perr := r.patchStatus(ctx, original, t); perr != nil {
					return ctrl.Result{}, perr
				}
				return ctrl.Result{RequeueAfter: 5 * time.Second}, err
			}
			expiresAt, _ := time.Parse(time.RFC3339, exp.ExpiresAt)
			r.event(t, corev1.EventTypeNormal, "Offboarded", "Offboard",
				"offboarded with policy Erase after a whole-tenant export: all tenant data erased; namespace %s keeps the encrypted export %s on the volume %s, and the keyring Secret %s, until %s",
				exp.Namespace, exp.Location, exp.Claim, keyringSecretName, exp.ExpiresAt)
			r.notify(ctx, t, mail.KindTenantOffboarded, mail.TenantOffboardedData{Tenant: t.Name, Policy: "Erase", ExportTaken: true,
				ExportExpiresAt: expiresAt, CompletedAt: r.Clock.Now(), Receipt: receipt})
			if err := r.deleteAllButExport(ctx, t); err != nil {
				return ctrl.Result{}, err
			}
		} else {
			done, err := r.offboardErase(ctx, t)
			if err != nil || !done {
				if perr := r.patchStatus(ctx, original, t); perr != nil {
					return ctrl.Result{}, perr
				}
				return ctrl.Result{RequeueAfter: 5 * time.Second}, err
			}
			r.event(t, corev1.EventTypeNormal, "Offboarded", "Offboard", "offboarded with policy Erase: namespace %s and all tenant data deleted", t.NamespaceName())
			r.notify(ctx, t, mail.KindTenantOffboarded, mail.TenantOffboardedData{Tenant: t.Name, Policy: "Erase", CompletedAt: r.Clock.Now()})
		}
	}
	r.reportData.forgetNamespace(t.NamespaceName())
	patch := client.MergeFrom(t.DeepCopy())
	controllerutil.RemoveFinalizer(t, TenantFinalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, t, patch))
}

// conditionWas reports whether obj had condition typ with the reason.
func conditionWas(obj conditioned, typ, reason string) bool {
	for _, c := range obj.GetConditions() {
		if c.Type == typ && c.Reason == reason && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

// retainData releases the namespace, the data volumes and the Secrets that
// protect them from the Tenant, and deletes the workloads and access.
func (r *TenantReconciler) retainData(ctx context.Context, t *v1alpha1.Tenant) error {
	ns := t.NamespaceName()
	keep := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}
	for _, name := range []string{appSecretName, keyringSecretName, dbSecretName, redisSecretName, tlsSecretName, storeTLSSecretName} {
		keep = append(keep, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	claims := &corev1.PersistentVolumeClaimList{}
	if err := r.APIReader.List(ctx, claims, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range claims.Items {
		keep = append(keep, &claims.Items[i])
	}
	for _, obj := range keep {
		if err := r.release(ctx, t, obj); err != nil {
			return err
		}
	}
	remove := []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: ns}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: ns}},
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: ingressName, Namespace: ns}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: dbName, Namespace: ns}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: redisName, Namespace: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: dbName, Namespace: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: redisName, Namespace: ns}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: unsubscribeName, Namespace: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: unsubscribeName, Namespace: ns}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: pruneName, Namespace: ns}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: adminRoleName, Namespace: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: adminRoleName, Namespace: ns}},
	}
	for _, obj := range remove {
		if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// release removes the Tenant's owner reference from obj and marks it
// retained, so it survives the Tenant.
func (r *TenantReconciler) release(ctx context.Context, t *v1alpha1.Tenant, obj client.Object) error {
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	updated := obj.DeepCopyObject().(client.Object)
	var refs []metav1.OwnerReference
	for _, ref := range updated.GetOwnerReferences() {
		if ref.UID != t.UID {
			refs = append(refs, ref)
		}
	}
	updated.SetOwnerReferences(refs)
	ann := updated.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[annotationRetained] = string(t.UID)
	updated.SetAnnotations(ann)
	if equalLabelsAndOwners(obj, updated) {
		return nil
	}
	return r.Patch(ctx, updated, client.MergeFrom(obj), fieldOwner)
}
