package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/template"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// messengerPageLimit is Messenger's send limit per Page.
const messengerPageLimit = 300

// BroadcastReconciler schedules broadcasts and runs, pauses and resumes their
// worker Jobs.
type BroadcastReconciler struct {
	client.Client
	APIReader               client.Reader
	Scheme                  *runtime.Scheme
	Recorder                events.EventRecorder
	Clock                   clock.PassiveClock
	Worker                  WorkerOptions
	MaxConcurrentReconciles int

	memo appliedMemo
}

// +kubebuilder:rbac:groups=inboxchat.io,resources=broadcasts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=inboxchat.io,resources=broadcasts/status,verbs=get;update;patch

// leadTemplateFields are the fields a message template may use.
type leadTemplateFields struct{ FirstName, LastName string }

// validateTemplate parses and trial-renders the message text, so a broken
// template fails the Broadcast before any message is sent.
func validateTemplate(text string) error {
	tpl, err := template.New("message").Option("missingkey=error").Parse(text)
	if err != nil {
		return err
	}
	return tpl.Execute(discard{}, leadTemplateFields{FirstName: "A", LastName: "B"})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Reconcile moves a Broadcast through Pending → Scheduled → Running ⇄ Paused →
// Succeeded or Failed.
func (r *BroadcastReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	defer func() { observeReconcile("broadcast", start, time.Now(), retErr) }()
	bc := &v1alpha1.Broadcast{}
	if err := r.Get(ctx, req.NamespacedName, bc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !bc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	original := bc.DeepCopy()
	defer func() {
		retErr = errors.Join(retErr, patchStatusIfChanged(ctx, r.Client, original, bc, original.Status, bc.Status))
	}()
	bc.Status.ObservedGeneration = bc.Generation
	if bc.Status.Phase == "" {
		bc.Status.Phase = v1alpha1.BroadcastPending
	}
	jobName := "inboxchat-broadcast-" + bc.Name
	if retry := bc.Annotations[v1alpha1.AnnotationRetry]; retry != "" && retry != bc.Status.LastRetry &&
		(bc.Status.Phase == v1alpha1.BroadcastFailed || bc.Status.Phase == v1alpha1.BroadcastSucceeded || bc.Status.Phase == v1alpha1.BroadcastPaused) {
		// Retry failed deliveries, or resume after an automatic pause: a new
		// Job continues from the ledger.
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: jobName, Namespace: bc.Namespace}}
		if err := r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
		bc.Status.LastRetry = retry
		bc.Status.RetryFailed = true
		bc.Status.Phase = v1alpha1.BroadcastPending
		bc.Status.CompletedAt = nil
		markReconciling(bc, "Retrying", "retrying failed deliveries on request")
		r.Recorder.Eventf(bc, nil, corev1.EventTypeNormal, "Retrying", "Retry", "retrying failed deliveries on request")
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	switch bc.Status.Phase {
	case v1alpha1.BroadcastSucceeded:
		markReady(bc, "Succeeded", fmt.Sprintf("sent %d of %d (%d failed, %d unsubscribed, %d outside the 24-hour window)",
			bc.Status.Sent, bc.Status.Audience, bc.Status.Failed, bc.Status.SkippedUnsubscribed, bc.Status.SkippedOutsideWindow))
		return ctrl.Result{}, nil
	case v1alpha1.BroadcastFailed:
		markStalled(bc, "BroadcastFailed", failureText(bc))
		return ctrl.Result{}, nil
	}
	if err := validateTemplate(bc.Spec.Message.Text); err != nil {
		return r.fail(bc, 0, "the message template is invalid: "+err.Error())
	}

	tenant, err := tenantOf(ctx, r.Client, bc.Namespace)
	var notTenant errNoTenant
	if errors.As(err, &notTenant) {
		markStalled(bc, "NotInTenantNamespace", err.Error())
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if tenant != nil && tenant.Spec.Messenger == nil {
		markStalled(bc, "MessengerNotConfigured", fmt.Sprintf("tenant %s has no spec.messenger; set the Page and its access token to send broadcasts", tenant.Name))
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now()
	if bc.Spec.StartAt != nil && now.Before(bc.Spec.StartAt.Time) {
		bc.Status.Phase = v1alpha1.BroadcastScheduled
		markReconciling(bc, "Scheduled", "starts at "+bc.Spec.StartAt.UTC().Format(time.RFC3339))
		return ctrl.Result{RequeueAfter: bc.Spec.StartAt.Sub(now)}, nil
	}

	cur := &batchv1.Job{}
	err = r.Get(ctx, client.ObjectKey{Namespace: bc.Namespace, Name: jobName}, cur)
	switch {
	case apierrors.IsNotFound(err):
		if bc.Spec.Suspend {
			bc.Status.Phase = v1alpha1.BroadcastPaused
			markReconciling(bc, "Paused", "paused by spec.suspend before it started")
			return ctrl.Result{}, nil
		}
		if ok, why := tenantReady(tenant); !ok {
			markReconciling(bc, "WaitingForTenant", why)
			return ctrl.Result{RequeueAfter: waitRequeue}, nil
		}
		return r.startJob(ctx, bc, tenant)
	case err != nil:
		return ctrl.Result{}, err
	}
	bc.Status.JobName = cur.Name
	// Pause and resume by suspending the Job: its pod gets SIGTERM, the
	// worker records the sends in flight and stops; a resumed pod continues
	// from the ledger.
	if suspended := ptr.Deref(cur.Spec.Suspend, false); suspended != bc.Spec.Suspend {
		patch := client.MergeFrom(cur.DeepCopy())
		cur.Spec.Suspend = ptr.To(bc.Spec.Suspend)
		if err := r.Patch(ctx, cur, patch); err != nil {
			return ctrl.Result{}, err
		}
		verb := "Resumed"
		if bc.Spec.Suspend {
			verb = "Paused"
		}
		r.Recorder.Eventf(bc, nil, corev1.EventTypeNormal, verb, verb, "%s the broadcast", verb)
	}
	switch outcome, why := outcomeOf(cur); {
	case outcome == jobFailed:
		if bc.Status.LastError == nil {
			bc.Status.LastError = &v1alpha1.BroadcastError{Text: why}
		}
		return r.fail(bc, bc.Status.LastError.Code, bc.Status.LastError.Text)
	case outcome == jobSucceeded && bc.Status.Phase == v1alpha1.BroadcastPaused:
		// The worker paused itself: too many failures.
		markStalled(bc, "FailureRatioExceeded", "paused automatically: "+failureText(bc)+"; annotate "+v1alpha1.AnnotationRetry+"=<any new value> to resume")
	case outcome == jobSucceeded:
		bc.Status.Phase = v1alpha1.BroadcastSucceeded
		if bc.Status.CompletedAt == nil {
			t := metav1.NewTime(now.Truncate(time.Second))
			bc.Status.CompletedAt = &t
		}
		r.Recorder.Eventf(bc, nil, corev1.EventTypeNormal, "Succeeded", "Broadcast", "sent %d of %d messages (%d failed)", bc.Status.Sent, bc.Status.Audience, bc.Status.Failed)
		markReady(bc, "Succeeded", fmt.Sprintf("sent %d of %d (%d failed, %d unsubscribed, %d outside the 24-hour window)",
			bc.Status.Sent, bc.Status.Audience, bc.Status.Failed, bc.Status.SkippedUnsubscribed, bc.Status.SkippedOutsideWindow))
	case bc.Spec.Suspend:
		bc.Status.Phase = v1alpha1.BroadcastPaused
		markReconciling(bc, "Paused", "paused by spec.suspend; clear it to resume")
	default:
		bc.Status.Phase = v1alpha1.BroadcastRunning
		markReconciling(bc, "Running", fmt.Sprintf("sent %d of %d", bc.Status.Sent, bc.Status.Audience))
	}
	return ctrl.Result{}, nil
}

func failureText(bc *v1alpha1.Broadcast) string {
	if e := bc.Status.LastError; e != nil && e.Text != "" {
		if e.Code != 0 {
			return fmt.Sprintf("%s (Graph error %d)", e.Text, e.Code)
		}
		return e.Text
	}
	return "the broadcast failed"
}

func (r *BroadcastReconciler) fail(bc *v1alpha1.Broadcast, code int32, text string) (ctrl.Result, error) {
	bc.Status.Phase = v1alpha1.BroadcastFailed
	if bc.Status.LastError == nil || bc.Status.LastError.Text == "" {
		bc.Status.LastError = &v1alpha1.BroadcastError{Code: code, Text: text}
	}
	markStalled(bc, "BroadcastFailed", failureText(bc))
	r.Recorder.Eventf(bc, nil, corev1.EventTypeWarning, "BroadcastFailed", "Broadcast", "%s", failureText(bc))
	return ctrl.Result{}, nil
}

// broadcastRate is the send rate: the Broadcast's, capped by the tenant's and
// by Messenger's limit per Page.
func broadcastRate(bc *v1alpha1.Broadcast, t *v1alpha1.Tenant) int32 {
	rate := min(max(bc.Spec.MessagesPerSecond, 1), messengerPageLimit)
	if t.Spec.Messenger != nil && t.Spec.Messenger.MessagesPerSecond > 0 {
		rate = min(rate, t.Spec.Messenger.MessagesPerSecond)
	}
	return rate
}

// broadcastWorker describes the broadcast Job.
func broadcastWorker(bc *v1alpha1.Broadcast, t *v1alpha1.Tenant) workerJob {
	m := t.Spec.Messenger
	graph := m.GraphAPIURL
	if graph == "" {
		graph = "https://graph.facebook.com/v23.0"
	}
	args := []string{"--rate=" + strconv.Itoa(int(broadcastRate(bc, t))), "--page-id=" + m.PageID, "--graph-api-url=" + graph, "--host=" + t.Spec.App.Host}
	if bc.Status.RetryFailed {
		args = append(args, "--retry-failed")
	}
	return workerJob{owner: bc, tenant: t, command: "broadcast", resource: "broadcasts", args: args,
		env: append(databaseEnv(t), secretEnv("INBOXCHAT_PAGE_ACCESS_TOKEN", m.AccessTokenSecretRef.Name, "accessToken"))}
}

func (r *BroadcastReconciler) startJob(ctx context.Context, bc *v1alpha1.Broadcast, t *v1alpha1.Tenant) (ctrl.Result, error) {
	w := broadcastWorker(bc, t)
	sa, role, rb := desiredWorkerRBAC(w)
	job := desiredWorkerJob(w, r.Worker)
	a := applier{Client: r.Client, reader: r.APIReader, scheme: r.Scheme, memo: &r.memo}
	if err := a.applyOwned(ctx, bc, nil, sa, role, rb, job); err != nil {
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(bc, nil, corev1.EventTypeNormal, "JobCreated", "Broadcast", "started worker Job %s at %d messages/s", job.Name, broadcastRate(bc, t))
	bc.Status.JobName = job.Name
	bc.Status.Phase = v1alpha1.BroadcastRunning
	if bc.Status.StartedAt == nil {
		now := metav1.NewTime(r.Clock.Now().Truncate(time.Second))
		bc.Status.StartedAt = &now
	}
	markReconciling(bc, "Running", "the broadcast worker started")
	return ctrl.Result{}, nil
}

// SetupWithManager registers the controller; it watches its Jobs.
func (r *BroadcastReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Broadcast{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, statusPhaseChanged{}))).
		Owns(&batchv1.Job{}).
		Owns(&rbacv1.Role{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Named("broadcast").
		Complete(r)
}
