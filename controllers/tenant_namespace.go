package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// Pod Security labels of every tenant namespace.
const (
	podSecurityEnforce = "pod-security.kubernetes.io/enforce"
	podSecurityVersion = "pod-security.kubernetes.io/enforce-version"
	podSecurityWarn    = "pod-security.kubernetes.io/warn"
	podSecurityAudit   = "pod-security.kubernetes.io/audit"
)

// tenantLabels are the labels of every object the operator makes for a tenant.
func tenantLabels(t *v1alpha1.Tenant) map[string]string {
	return map[string]string{
		v1alpha1.LabelTenant:        t.Name,
		v1alpha1.LabelManagedBy:     v1alpha1.ManagedByValue,
		"app.kubernetes.io/part-of": "inboxchat",
	}
}

// desiredNamespace is the tenant namespace: restricted Pod Security, labelled
// with its Tenant.
func desiredNamespace(t *v1alpha1.Tenant) *corev1.Namespace {
	labels := tenantLabels(t)
	labels[podSecurityEnforce] = "restricted"
	labels[podSecurityVersion] = "latest"
	labels[podSecurityWarn] = "restricted"
	labels[podSecurityAudit] = "restricted"
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: t.NamespaceName(), Labels: labels},
	}
}

// reconcileNamespace creates the tenant namespace, or adopts an existing one
// that carries the label inboxchat.io/tenant=<name>; any other namespace of
// that name is refused and the Tenant stalls.
func (r *TenantReconciler) reconcileNamespace(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	desired := desiredNamespace(t)
	current := &corev1.Namespace{}
	err := r.Get(ctx, types.NamespacedName{Name: desired.Name}, current)
	if apierrors.IsNotFound(err) {
		// The cache holds only namespaces the operator labelled. Creating is
		// the common case; a namespace a pipeline made first makes the create
		// fail and is then read through the API reader.
		if err := controllerutil.SetOwnerReference(t, desired, r.Scheme); err != nil {
			return nil, err
		}
		err = r.Create(ctx, desired.DeepCopy(), fieldOwner)
		switch {
		case err == nil:
			r.event(t, corev1.EventTypeNormal, "NamespaceCreated", "Created", "created namespace %s", desired.Name)
			setCondition(t, v1alpha1.ConditionNamespaceReady, metav1.ConditionTrue, "NamespaceReady", fmt.Sprintf("namespace %s is ready", desired.Name))
			return nil, nil
		case apierrors.IsAlreadyExists(err):
			err = r.APIReader.Get(ctx, types.NamespacedName{Name: desired.Name}, current)
		default:
			return nil, fmt.Errorf("creating namespace %s: %w", desired.Name, err)
		}
	}
	switch {
	case err != nil:
		return nil, err
	case current.Labels[v1alpha1.LabelTenant] != t.Name:
		msg := fmt.Sprintf("namespace %s already exists and is not labelled %s=%s; label it to let this Tenant adopt it, or choose another Tenant name",
			desired.Name, v1alpha1.LabelTenant, t.Name)
		setCondition(t, v1alpha1.ConditionNamespaceReady, metav1.ConditionFalse, "NamespaceConflict", msg)
		markStalled(t, "NamespaceConflict", msg)
		return &ctrl.Result{}, nil
	case !current.DeletionTimestamp.IsZero():
		msg := fmt.Sprintf("namespace %s is terminating; waiting for it to go", desired.Name)
		setCondition(t, v1alpha1.ConditionNamespaceReady, metav1.ConditionFalse, "NamespaceTerminating", msg)
		markReconciling(t, "NamespaceTerminating", msg)
		return requeueAfter(5e9), nil
	default:
		if err := r.patchNamespace(ctx, t, current, desired); err != nil {
			return nil, err
		}
	}
	setCondition(t, v1alpha1.ConditionNamespaceReady, metav1.ConditionTrue, "NamespaceReady", fmt.Sprintf("namespace %s is ready", current.Name))
	return nil, nil
}

// patchNamespace puts back the labels and owner reference of an existing
// namespace, writing only when something differs.
func (r *TenantReconciler) patchNamespace(ctx context.Context, t *v1alpha1.Tenant, current, desired *corev1.Namespace) error {
	updated := current.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	for k, v := range desired.Labels {
		updated.Labels[k] = v
	}
	if err := controllerutil.SetOwnerReference(t, updated, r.Scheme); err != nil {
		return err
	}
	if equalLabelsAndOwners(current, updated) {
		return nil
	}
	if err := r.Patch(ctx, updated, client.MergeFrom(current), fieldOwner); err != nil {
		return fmt.Errorf("patching namespace %s: %w", current.Name, err)
	}
	return nil
}
