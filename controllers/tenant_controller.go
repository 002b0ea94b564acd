package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// TenantFinalizer holds a Tenant until its offboarding has run.
const TenantFinalizer = "inboxchat.io/offboarding"

// fieldOwner is the server-side apply field manager of the operator.
const fieldOwner = client.FieldOwner("inboxchat-operator")

// TenantReconciler provisions everything a tenant runs on.
type TenantReconciler struct {
	client.Client
	// APIReader reads objects the cache does not hold: Secrets that users
	// create, and namespaces the operator has not labelled yet.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// Clock is injectable so tests can drive key rotation and certificate renewal.
	Clock clock.PassiveClock
	// MaxConcurrentReconciles bounds parallel tenant reconciles.
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=inboxchat.io,resources=tenants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=inboxchat.io,resources=tenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=inboxchat.io,resources=tenants/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// tenantStep is one ordered sub-reconciler. It returns a non-nil stop when the
// reconcile cannot go on this round (a Stalled or waiting verdict already
// recorded on the Tenant), and an error for transient failures.
type tenantStep func(ctx context.Context, t *v1alpha1.Tenant) (stop *ctrl.Result, err error)

// Reconcile drives a Tenant through namespace → status, patching the status
// once at the end and only when it changed.
func (r *TenantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := r.Clock.Now()
	defer func() { observeReconcile("tenant", start, r.Clock.Now(), retErr) }()

	tenant := &v1alpha1.Tenant{}
	if err := r.Get(ctx, req.NamespacedName, tenant); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tenant.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, tenant)
	}
	if !controllerutil.ContainsFinalizer(tenant, TenantFinalizer) {
		patch := client.MergeFrom(tenant.DeepCopy())
		controllerutil.AddFinalizer(tenant, TenantFinalizer)
		if err := r.Patch(ctx, tenant, patch); err != nil {
			return ctrl.Result{}, err
		}
	}

	original := tenant.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, original, tenant); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	if tenant.Status.ObservedGeneration != tenant.Generation || len(tenant.Status.Conditions) == 0 {
		markReconciling(tenant, "Progressing", fmt.Sprintf("reconciling generation %d", tenant.Generation))
	}

	for _, step := range r.steps() {
		stop, err := step(ctx, tenant)
		if err != nil {
			markReconciling(tenant, "ReconcileError", err.Error())
			return ctrl.Result{}, err
		}
		if stop != nil {
			tenant.Status.ObservedGeneration = tenant.Generation
			return *stop, nil
		}
	}
	tenant.Status.ObservedGeneration = tenant.Generation
	return r.summarize(tenant), nil
}

// steps lists the Tenant sub-reconcilers in order.
func (r *TenantReconciler) steps() []tenantStep {
	return []tenantStep{
		r.reconcileNamespace,
	}
}

// summarize turns the detail conditions into the kstatus verdict.
func (r *TenantReconciler) summarize(t *v1alpha1.Tenant) ctrl.Result {
	t.Status.Namespace = t.NamespaceName()
	t.Status.URL = "https://" + t.Spec.App.Host
	markReady(t, "Provisioned", "the tenant is provisioned")
	return ctrl.Result{}
}

// patchStatus writes the status once, only when it changed.
func (r *TenantReconciler) patchStatus(ctx context.Context, original, t *v1alpha1.Tenant) error {
	if equality.Semantic.DeepEqual(original.Status, t.Status) {
		return nil
	}
	err := r.Status().Patch(ctx, t, client.MergeFrom(original))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// reconcileDelete runs offboarding and releases the finalizer.
func (r *TenantReconciler) reconcileDelete(ctx context.Context, t *v1alpha1.Tenant) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(t, TenantFinalizer) {
		return ctrl.Result{}, nil
	}
	log.FromContext(ctx).Info("offboarding tenant", "policy", t.Spec.Offboarding.Policy)
	patch := client.MergeFrom(t.DeepCopy())
	controllerutil.RemoveFinalizer(t, TenantFinalizer)
	return ctrl.Result{}, r.Patch(ctx, t, patch)
}

// SetupWithManager registers the controller and its watches.
func (r *TenantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Tenant{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Namespace{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Named("tenant").
		Complete(r)
}

// requeueAfter is a helper for waiting steps.
func requeueAfter(d time.Duration) *ctrl.Result { return &ctrl.Result{RequeueAfter: d} }

// now is the reconciler's clock as a metav1.Time.
func (r *TenantReconciler) now() metav1.Time { return metav1.NewTime(r.Clock.Now()) }
