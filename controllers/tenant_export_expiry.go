package controllers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// exportAdoptedRecheck is how often a namespace whose export has expired is
// looked at again while a Tenant of its name exists but has not adopted it.
const exportAdoptedRecheck = time.Minute

// ExportExpiryReconciler deletes the namespace that an offboarded tenant
// left to keep its export (labelled inboxchat.io/export-expires-at) once
// the export has expired, with the files volume and the keyring Secret in
// it. A namespace that a Tenant has adopted since is left alone, and its
// export marks are removed: the new Tenant's retention applies to it.
type ExportExpiryReconciler struct {
	client.Client
	// APIReader reads the namespace and the Tenants afresh before a
	// deletion.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Clock is injectable so tests can move past the expiry.
	Clock clock.PassiveClock
}

// Reconcile deletes one namespace whose export has expired, or waits for
// the expiry.
func (r *ExportExpiryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	raw, marked := ns.Labels[LabelExportExpiresAt]
	if !marked || !ns.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	if adoptedSinceExport(ns) {
		return ctrl.Result{}, r.unmark(ctx, ns)
	}
	secs, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		log.FromContext(ctx).Info("the export expiry of a namespace is not Unix seconds; leaving the namespace alone", "label", LabelExportExpiresAt)
		r.eventf(ns, corev1.EventTypeWarning, "ExportExpiryInvalid", "label %s=%q is not a time in Unix seconds; the namespace is not deleted", LabelExportExpiresAt, raw)
		return ctrl.Result{}, nil
	}
	expiresAt := time.Unix(secs, 0)
	if now := r.Clock.Now(); now.Before(expiresAt) {
		return ctrl.Result{RequeueAfter: expiresAt.Sub(now)}, nil
	}

	// Decide on a fresh read: a Tenant may be adopting the namespace.
	if err := r.APIReader.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if ns.Labels[LabelExportExpiresAt] != raw || !ns.DeletionTimestamp.IsZero() {
		return ctrl.Result{Requeue: true}, nil
	}
	if adoptedSinceExport(ns) {
		return ctrl.Result{}, r.unmark(ctx, ns)
	}
	if name := ns.Labels[v1alpha1.LabelTenant]; name != "" {
		t := &v1alpha1.Tenant{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, t)
		if err == nil && t.NamespaceName() == ns.Name {
			// A Tenant of that name exists and will adopt the namespace.
			return ctrl.Result{RequeueAfter: exportAdoptedRecheck}, nil
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
	}
	uid, rv := ns.UID, ns.ResourceVersion
	if err := r.Delete(ctx, ns, client.Preconditions{UID: &uid, ResourceVersion: &rv}); apierrors.IsConflict(err) {
		return ctrl.Result{Requeue: true}, nil // it changed since the read
	} else if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("deleting namespace %s, whose export expired: %w", ns.Name, err)
	}
	log.FromContext(ctx).Info("deleted the namespace of an expired offboarding export", "expiredAt", expiresAt.UTC().Format(time.RFC3339))
	r.eventf(ns, corev1.EventTypeNormal, "ExportExpired", "the offboarding export kept here expired at %s; deleted the namespace with its files volume and keyring",
		expiresAt.UTC().Format(time.RFC3339))
	return ctrl.Result{}, nil
}

// adoptedSinceExport reports whether a Tenant has taken the namespace over
// since the export was left in it: a Tenant owns it, or the Tenant that
// last released it is not the one that left the export.
func adoptedSinceExport(ns *corev1.Namespace) bool {
	for _, ref := range ns.OwnerReferences {
		if ref.Kind == "Tenant" && ref.APIVersion == v1alpha1.GroupVersion.String() {
			return true
		}
	}
	return ns.Annotations[annotationRetained] != ns.Annotations[annotationExportOf]
}

// unmark removes the export marks of a namespace a Tenant has adopted.
func (r *ExportExpiryReconciler) unmark(ctx context.Context, ns *corev1.Namespace) error {
	updated := ns.DeepCopy()
	delete(updated.Labels, LabelExportExpiresAt)
	for _, k := range []string{annotationExportOf, annotationExportLocation, annotationExportSHA256} {
		delete(updated.Annotations, k)
	}
	if equalLabelsAndOwners(ns, updated) {
		return nil
	}
	return client.IgnoreNotFound(r.Patch(ctx, updated, client.MergeFrom(ns), fieldOwner))
}

// eventf records an event on the namespace.
func (r *ExportExpiryReconciler) eventf(ns *corev1.Namespace, eventType, reason, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(ns, nil, eventType, reason, "ExportExpiry", note, args...)
	}
}

// hasExportExpiry selects namespaces labelled with an export expiry.
var hasExportExpiry = predicate.NewPredicateFuncs(func(o client.Object) bool {
	_, ok := o.GetLabels()[LabelExportExpiresAt]
	return ok
})

// SetupWithManager registers the reconciler. It watches the namespaces in
// the operator's cache (labelled app.kubernetes.io/managed-by, as tenant
// namespaces are) that carry an export expiry.
func (r *ExportExpiryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Namespace{}, builder.WithPredicates(hasExportExpiry)).
		Named("tenant-export-expiry").
		Complete(r)
}
