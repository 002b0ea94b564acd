package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
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
	// OperatorNamespace holds the operator's CA and offboarding receipts.
	OperatorNamespace string
	// Images of the managed stores.
	Images StoreImages
	// Network says where the ingress controller and DNS run.
	Network NetworkOptions
	// Ingress shapes the tenant Ingress.
	Ingress IngressOptions
	// Notifier e-mails the tenant admins; nil sends nothing.
	Notifier Notifier
	// Worker says how the operator's own pods (unsubscribe server, prune)
	// run.
	Worker WorkerOptions

	ca   operatorCA
	memo appliedMemo
	// secrets remembers what the generated Secrets held (see secretMemo).
	secrets secretMemo
	// reportData keeps the prune reports' data by version.
	reportData dataVersions
}

// ownedObject is a child the Tenant owns.
type ownedObject = client.Object

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
	result = r.summarize(tenant)
	if tenant.Status.FirstReadyAt == nil && conditionWas(tenant, v1alpha1.ConditionReady, "Provisioned") && !r.firstReadyRecorded(ctx, tenant) {
		now := metav1.NewTime(r.Clock.Now().Truncate(time.Second))
		tenant.Status.FirstReadyAt = &now
		r.event(tenant, corev1.EventTypeNormal, "TenantReady", "Provision", "the tenant is provisioned and serving at %s", tenant.Status.URL)
		r.notify(ctx, tenant, mail.KindTenantReady, mail.TenantReadyData{Tenant: tenant.Name, DisplayName: displayName(tenant), URL: tenant.Status.URL})
	}
	return result, nil
}

// steps lists the Tenant sub-reconcilers in order.
func (r *TenantReconciler) steps() []tenantStep {
	return []tenantStep{
		r.reconcileHost,
		r.reconcileNamespace,
		r.reconcileRBAC,
		r.reconcileNetwork,
		r.reconcileSecrets,
		r.reconcileTLS,
		r.reconcileStores,
		r.reconcileApp,
		r.reconcileUnsubscribe,
		r.reconcileRetention,
	}
}

// applyAll applies the Tenant's children (see applyOwned).
func (r *TenantReconciler) applyAll(ctx context.Context, t *v1alpha1.Tenant, objs ...ownedObject) error {
	return applier{Client: r.Client, reader: r.APIReader, scheme: r.Scheme, memo: &r.memo}.applyOwned(ctx, t, tenantLabels(t), objs...)
}

// adoptMetadata gives an existing object the Tenant's labels and owner
// reference without touching its spec or data, writing only when needed.
func (r *TenantReconciler) adoptMetadata(ctx context.Context, t *v1alpha1.Tenant, current, labelled client.Object) error {
	updated := current.DeepCopyObject().(client.Object)
	labels := updated.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range labelled.GetLabels() {
		labels[k] = v
	}
	for k, v := range tenantLabels(t) {
		labels[k] = v
	}
	updated.SetLabels(labels)
	ann := updated.GetAnnotations()
	delete(ann, annotationRetained)
	updated.SetAnnotations(ann)
	if err := controllerutil.SetControllerReference(t, updated, r.Scheme); err != nil {
		return err
	}
	if equalLabelsAndOwners(current, updated) {
		return nil
	}
	return r.Patch(ctx, updated, client.MergeFrom(current), fieldOwner)
}

// patchStatus writes the status once, only when it changed.
func (r *TenantReconciler) patchStatus(ctx context.Context, original, t *v1alpha1.Tenant) error {
	return patchStatusIfChanged(ctx, r.Client, original, t, original.Status, t.Status)
}

// firstReadyRecorded reads the Tenant through the API before the one-time
// "tenant ready" notice: the cache may not show yet the status patch of the
// reconcile that already sent it.
func (r *TenantReconciler) firstReadyRecorded(ctx context.Context, t *v1alpha1.Tenant) bool {
	fresh := &v1alpha1.Tenant{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(t), fresh); err != nil || fresh.Status.FirstReadyAt == nil {
		return false
	}
	t.Status.FirstReadyAt = fresh.Status.FirstReadyAt
	return true
}

// ignoreCreate drops the create events of children: the operator made them
// itself a moment ago (or, after a restart, reconciles every Tenant anyway),
// so only their changes and deletions -- drift -- need a reconcile.
var ignoreCreate = builder.WithPredicates(predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }})

// SetupWithManager registers the controller and its watches.
func (r *TenantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Tenant{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Namespace{}, ignoreCreate).
		Owns(&corev1.Secret{}, ignoreCreate).
		Owns(&corev1.Service{}, ignoreCreate).
		Owns(&corev1.ServiceAccount{}, ignoreCreate).
		Owns(&corev1.PersistentVolumeClaim{}, ignoreCreate).
		Owns(&appsv1.Deployment{}, ignoreCreate).
		Owns(&appsv1.StatefulSet{}, ignoreCreate).
		Owns(&networkingv1.Ingress{}, ignoreCreate).
		Owns(&networkingv1.NetworkPolicy{}, ignoreCreate).
		Owns(&policyv1.PodDisruptionBudget{}, ignoreCreate).
		Owns(&batchv1.CronJob{}, ignoreCreate).
		Owns(&batchv1.Job{}, ignoreCreate).
		Owns(&rbacv1.Role{}, ignoreCreate).
		Owns(&rbacv1.RoleBinding{}, ignoreCreate).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Named("tenant").
		Complete(r)
}

// requeueAfter is a helper for waiting steps.
func requeueAfter(d time.Duration) *ctrl.Result { return &ctrl.Result{RequeueAfter: d} }
