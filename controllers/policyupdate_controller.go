package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

// PolicyConfigMapName is the ConfigMap the app reads the current privacy
// policy from.
const PolicyConfigMapName = "inboxchat-policy"

// PolicyUpdateReconciler publishes privacy-policy versions and runs the
// notify worker that e-mails every user once per version.
type PolicyUpdateReconciler struct {
	client.Client
	APIReader               client.Reader
	Scheme                  *runtime.Scheme
	Recorder                events.EventRecorder
	Clock                   clock.PassiveClock
	Worker                  WorkerOptions
	Notifier                Notifier
	MaxConcurrentReconciles int

	memo appliedMemo
}

// +kubebuilder:rbac:groups=inboxchat.io,resources=policyupdates,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=inboxchat.io,resources=policyupdates/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete

// Reconcile validates the update, publishes it when it takes effect,
// supersedes older versions and follows the notify Job.
func (r *PolicyUpdateReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	defer func() { observeReconcile("policyupdate", start, time.Now(), retErr) }()
	pu := &v1alpha1.PolicyUpdate{}
	if err := r.Get(ctx, req.NamespacedName, pu); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pu.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	original := pu.DeepCopy()
	defer func() {
		retErr = errors.Join(retErr, patchStatusIfChanged(ctx, r.Client, original, pu, original.Status, pu.Status))
	}()
	pu.Status.ObservedGeneration = pu.Generation
	if pu.Status.Phase == "" {
		pu.Status.Phase = v1alpha1.PolicyPending
	}
	switch pu.Status.Phase {
	case v1alpha1.PolicySuperseded:
		markReady(pu, "Superseded", "superseded by "+pu.Status.SupersededBy)
		return ctrl.Result{}, nil
	case v1alpha1.PolicyFailed:
		retry := pu.Annotations[v1alpha1.AnnotationRetry]
		if retry == "" || retry == pu.Status.LastRetry {
			return ctrl.Result{}, nil
		}
		// A retry: a new notify Job resumes from the ledger; nobody already
		// e-mailed is e-mailed again.
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "inboxchat-notify-" + pu.Name, Namespace: pu.Namespace}}
		if err := r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
		pu.Status.LastRetry = retry
		pu.Status.Phase = v1alpha1.PolicyPending
		markReconciling(pu, "Retrying", "retrying the notification on request")
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}

	tenant, err := tenantOf(ctx, r.Client, pu.Namespace)
	var notTenant errNoTenant
	if errors.As(err, &notTenant) {
		markStalled(pu, "NotInTenantNamespace", err.Error())
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if ok, why := tenantReady(tenant); !ok {
		markReconciling(pu, "WaitingForTenant", why)
		return ctrl.Result{RequeueAfter: waitRequeue}, nil
	}
	siblings := &v1alpha1.PolicyUpdateList{}
	if err := r.List(ctx, siblings, client.InNamespace(pu.Namespace)); err != nil {
		return ctrl.Result{}, err
	}
	if reason, msg := r.validate(ctx, pu, siblings.Items); reason != "" {
		markStalled(pu, reason, msg)
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now()
	if now.Before(pu.Spec.EffectiveAt.Time) {
		markReconciling(pu, "Scheduled", "takes effect at "+pu.Spec.EffectiveAt.UTC().Format(time.RFC3339))
		return ctrl.Result{RequeueAfter: pu.Spec.EffectiveAt.Sub(now)}, nil
	}
	if newer := newerEffective(pu, siblings.Items, now); newer != nil {
		// A later version is already in effect: this one is history.
		pu.Status.Phase = v1alpha1.PolicySuperseded
		pu.Status.SupersededBy = newer.Name
		markReady(pu, "Superseded", "superseded by "+newer.Name)
		return ctrl.Result{}, nil
	}
	if err := r.publish(ctx, pu, tenant); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.supersedeOlder(ctx, pu, siblings.Items); err != nil {
		return ctrl.Result{}, err
	}
	return r.notify(ctx, pu, tenant)
}

// validate checks what CEL cannot: the version is unique in the tenant,
// effectiveAt is not before the previous version's, the document exists.
func (r *PolicyUpdateReconciler) validate(ctx context.Context, pu *v1alpha1.PolicyUpdate, siblings []v1alpha1.PolicyUpdate) (string, string) {
	for _, s := range siblings {
		if s.Name == pu.Name || s.Spec.Version != pu.Spec.Version {
			continue
		}
		if s.CreationTimestamp.Before(&pu.CreationTimestamp) || (s.CreationTimestamp.Equal(&pu.CreationTimestamp) && s.Name < pu.Name) {
			return "DuplicateVersion", fmt.Sprintf("version %s is already published by PolicyUpdate %s; a version is published once per tenant", pu.Spec.Version, s.Name)
		}
	}
	for _, s := range siblings {
		if s.Name == pu.Name || !s.CreationTimestamp.Before(&pu.CreationTimestamp) {
			continue
		}
		if s.Spec.EffectiveAt.After(pu.Spec.EffectiveAt.Time) {
			return "EffectiveBeforePrevious", fmt.Sprintf("effectiveAt %s is before %s, when the previous version %s (PolicyUpdate %s) takes effect",
				pu.Spec.EffectiveAt.UTC().Format(time.RFC3339), s.Spec.EffectiveAt.UTC().Format(time.RFC3339), s.Spec.Version, s.Name)
		}
	}
	if ref := pu.Spec.DocumentRef; ref != nil {
		cm := &corev1.ConfigMap{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pu.Namespace, Name: ref.Name}, cm); err != nil {
			return "DocumentMissing", fmt.Sprintf("spec.documentRef names ConfigMap %s, which cannot be read: %s", ref.Name, apierrors.ReasonForError(err))
		}
		if _, ok := cm.Data[ref.Key]; !ok {
			return "DocumentMissing", fmt.Sprintf("ConfigMap %s has no key %s (spec.documentRef)", ref.Name, ref.Key)
		}
	}
	return "", ""
}

// newerEffective returns a sibling that is in effect and later than pu.
func newerEffective(pu *v1alpha1.PolicyUpdate, siblings []v1alpha1.PolicyUpdate, now time.Time) *v1alpha1.PolicyUpdate {
	var newer []v1alpha1.PolicyUpdate
	for _, s := range siblings {
		if s.Name != pu.Name && s.Spec.Version != pu.Spec.Version && !now.Before(s.Spec.EffectiveAt.Time) && s.Spec.EffectiveAt.After(pu.Spec.EffectiveAt.Time) {
			newer = append(newer, s)
		}
	}
	if len(newer) == 0 {
		return nil
	}
	sort.Slice(newer, func(i, j int) bool { return newer[i].Spec.EffectiveAt.After(newer[j].Spec.EffectiveAt.Time) })
	return &newer[0]
}

// desiredPolicyConfigMap is what the app reads.
func desiredPolicyConfigMap(pu *v1alpha1.PolicyUpdate, t *v1alpha1.Tenant) *corev1.ConfigMap {
	data := map[string]string{
		"version":             pu.Spec.Version,
		"effectiveAt":         pu.Spec.EffectiveAt.UTC().Format(time.RFC3339),
		"requireReacceptance": strconv.FormatBool(pu.Spec.RequireReacceptance),
		"policyUpdate":        pu.Name,
	}
	if pu.Spec.DocumentURL != "" {
		data["documentURL"] = pu.Spec.DocumentURL
	} else if ref := pu.Spec.DocumentRef; ref != nil {
		data["documentURL"] = "https://" + t.Spec.App.Host + "/privacy/" + pu.Spec.Version
		data["documentConfigMap"] = ref.Name
		data["documentKey"] = ref.Key
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: PolicyConfigMapName, Namespace: pu.Namespace, Labels: tenantLabels(t)},
		Data:       data,
	}
}

// publish writes the ConfigMap for the app, owned by the PolicyUpdate in
// effect (so it moves to the next version's owner when superseded).
func (r *PolicyUpdateReconciler) publish(ctx context.Context, pu *v1alpha1.PolicyUpdate, t *v1alpha1.Tenant) error {
	cm := desiredPolicyConfigMap(pu, t)
	cur := &corev1.ConfigMap{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(cm), cur); err == nil {
		// Hand the ConfigMap from the previous version to this one.
		if refs := cur.GetOwnerReferences(); len(refs) > 0 && refs[0].UID != pu.UID {
			updated := cur.DeepCopy()
			updated.OwnerReferences = nil
			if err := r.Patch(ctx, updated, client.MergeFrom(cur)); err != nil {
				return err
			}
		}
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	a := applier{Client: r.Client, reader: r.APIReader, scheme: r.Scheme, memo: &r.memo}
	if err := a.applyOwned(ctx, pu, nil, cm); err != nil {
		return err
	}
	if pu.Status.PublishedAt == nil {
		now := metav1.NewTime(r.Clock.Now().Truncate(time.Second))
		pu.Status.PublishedAt = &now
		r.Recorder.Eventf(pu, nil, corev1.EventTypeNormal, "Published", "Publish", "published privacy policy version %s to ConfigMap %s", pu.Spec.Version, PolicyConfigMapName)
	}
	return nil
}

// supersedeOlder marks the versions this one replaces.
func (r *PolicyUpdateReconciler) supersedeOlder(ctx context.Context, pu *v1alpha1.PolicyUpdate, siblings []v1alpha1.PolicyUpdate) error {
	for i := range siblings {
		s := &siblings[i]
		if s.Name == pu.Name || s.Status.Phase == v1alpha1.PolicySuperseded || !s.Spec.EffectiveAt.Before(&pu.Spec.EffectiveAt) {
			continue
		}
		patch := client.MergeFrom(s.DeepCopy())
		s.Status.Phase = v1alpha1.PolicySuperseded
		s.Status.SupersededBy = pu.Name
		markReady(s, "Superseded", "superseded by "+pu.Name)
		if err := r.Status().Patch(ctx, s, patch); client.IgnoreNotFound(err) != nil {
			return err
		}
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, "Superseded", "Supersede", "superseded by PolicyUpdate %s (version %s)", pu.Name, pu.Spec.Version)
	}
	return nil
}

// policyWorker describes the notify Job of a policy update.
func policyWorker(pu *v1alpha1.PolicyUpdate, t *v1alpha1.Tenant) workerJob {
	w := workerJob{owner: pu, tenant: t, command: "notify", resource: "policyupdates", env: databaseEnv(t)}
	if ref := t.Spec.Notifications.SMTPSecretRef; ref != nil {
		w.env = append(w.env, corev1.EnvVar{Name: "INBOXCHAT_SMTP_SECRET", Value: ref.Name})
		w.secrets = []string{ref.Name}
	}
	// The document's address, as published for the app: the worker reads
	// no ConfigMap (its Role grants none).
	w.env = append(w.env, corev1.EnvVar{Name: "INBOXCHAT_PRODUCT", Value: displayName(t)},
		corev1.EnvVar{Name: "INBOXCHAT_POLICY_DOCUMENT_URL", Value: desiredPolicyConfigMap(pu, t).Data["documentURL"]})
	return w
}

// notify runs the notify Job and follows it.
func (r *PolicyUpdateReconciler) notify(ctx context.Context, pu *v1alpha1.PolicyUpdate, t *v1alpha1.Tenant) (ctrl.Result, error) {
	if t.Spec.Notifications.SMTPSecretRef == nil {
		msg := fmt.Sprintf("version %s is published, but tenant %s has no spec.notifications.smtpSecretRef, so its users cannot be e-mailed", pu.Spec.Version, t.Name)
		markStalled(pu, "NotificationsNotConfigured", msg)
		return ctrl.Result{}, nil
	}
	w := policyWorker(pu, t)
	sa, role, rb := desiredWorkerRBAC(w)
	job := desiredWorkerJob(w, r.Worker)
	a := applier{Client: r.Client, reader: r.APIReader, scheme: r.Scheme, memo: &r.memo}
	if err := a.applyOwned(ctx, pu, nil, sa, role, rb); err != nil {
		return ctrl.Result{}, err
	}
	cur := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKeyFromObject(job), cur)
	if apierrors.IsNotFound(err) {
		if err := a.applyOwned(ctx, pu, nil, job); err != nil {
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(pu, nil, corev1.EventTypeNormal, "JobCreated", "Notify", "started worker Job %s to e-mail every user", job.Name)
		pu.Status.JobName = job.Name
		pu.Status.Phase = v1alpha1.PolicyNotifying
		markReconciling(pu, "Notifying", "e-mailing every user once")
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	pu.Status.JobName = job.Name
	switch outcome, why := outcomeOf(cur); outcome {
	case jobRunning:
		pu.Status.Phase = v1alpha1.PolicyNotifying
		markReconciling(pu, "Notifying", fmt.Sprintf("e-mailed %d of %d users", pu.Status.Sent, pu.Status.Recipients))
	case jobFailed:
		pu.Status.Phase = v1alpha1.PolicyFailed
		markStalled(pu, "NotifyFailed", why)
		r.Recorder.Eventf(pu, nil, corev1.EventTypeWarning, "NotifyFailed", "Notify", "%s", why)
	default:
		if pu.Status.Phase != v1alpha1.PolicyPublished {
			pu.Status.Phase = v1alpha1.PolicyPublished
			r.Recorder.Eventf(pu, nil, corev1.EventTypeNormal, "Notified", "Notify", "e-mailed %d users (%d failed)", pu.Status.Sent, pu.Status.Failed)
			sendNotice(ctx, r.Notifier, r.Recorder, pu, t, mail.KindPolicyPublished, mail.PolicyPublishedData{
				Product: displayName(t), Version: pu.Spec.Version, EffectiveAt: pu.Spec.EffectiveAt.Time,
				Summary: pu.Spec.Summary, DocumentURL: desiredPolicyConfigMap(pu, t).Data["documentURL"],
				RequireReacceptance: pu.Spec.RequireReacceptance,
			})
		}
		markReady(pu, "Published", fmt.Sprintf("version %s is in effect; e-mailed %d of %d users (%d failed)", pu.Spec.Version, pu.Status.Sent, pu.Status.Recipients, pu.Status.Failed))
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the controller. A change to any PolicyUpdate
// wakes its siblings, since validation and superseding look at all of them.
func (r *PolicyUpdateReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	siblings := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &v1alpha1.PolicyUpdateList{}
		if err := mgr.GetClient().List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
			return nil
		}
		var reqs []reconcile.Request
		for _, p := range list.Items {
			if p.Name != obj.GetName() {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
			}
		}
		return reqs
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.PolicyUpdate{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, statusPhaseChanged{}))).
		Watches(&v1alpha1.PolicyUpdate{}, siblings, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&batchv1.Job{}).
		Owns(&rbacv1.Role{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Named("policyupdate").
		Complete(r)
}
