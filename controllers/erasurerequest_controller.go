package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

// ErasureAnswerPeriod is the answer period of GDPR Art. 12(3): a request's
// deadline is its creation plus this.
const ErasureAnswerPeriod = 30 * 24 * time.Hour

// ErasureRequestReconciler runs an erase worker Job per request, checks its
// verified results, chains the receipt and deletes the subject Secret.
type ErasureRequestReconciler struct {
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

// +kubebuilder:rbac:groups=inboxchat.io,resources=erasurerequests,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=inboxchat.io,resources=erasurerequests/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=inboxchat.io,resources=tenants/status,verbs=get;update;patch

// Reconcile moves an ErasureRequest through Pending → (Exporting, Erasing,
// Verifying: written by the worker) → Completed or Failed.
func (r *ErasureRequestReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	defer func() { observeReconcile("erasurerequest", start, time.Now(), retErr) }()
	er := &v1alpha1.ErasureRequest{}
	if err := r.Get(ctx, req.NamespacedName, er); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !er.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	original := er.DeepCopy()
	defer func() {
		retErr = errors.Join(retErr, patchStatusIfChanged(ctx, r.Client, original, er, original.Status, er.Status))
	}()

	if er.Status.Deadline == nil {
		d := metav1.NewTime(er.CreationTimestamp.Add(ErasureAnswerPeriod))
		er.Status.Deadline = &d
	}
	if er.Status.Phase == "" {
		er.Status.Phase = v1alpha1.ErasurePending
	}
	er.Status.ObservedGeneration = er.Generation

	if retry := er.Annotations[v1alpha1.AnnotationRetry]; retry != "" && retry != er.Status.LastRetry && er.Status.Phase == v1alpha1.ErasureFailed {
		return r.retry(ctx, er, retry)
	}
	switch er.Status.Phase {
	case v1alpha1.ErasureCompleted:
		if err := r.deleteSubjectSecret(ctx, er); err != nil {
			return ctrl.Result{}, err
		}
		markReady(er, "Completed", completedMessage(er))
		return ctrl.Result{}, nil
	case v1alpha1.ErasureFailed:
		markStalled(er, "ErasureFailed", er.Status.Message+"; annotate "+v1alpha1.AnnotationRetry+"=<any new value> to try again")
		return ctrl.Result{}, nil
	}

	tenant, err := tenantOf(ctx, r.Client, er.Namespace)
	var notTenant errNoTenant
	if errors.As(err, &notTenant) {
		markStalled(er, "NotInTenantNamespace", err.Error())
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if ok, why := tenantReady(tenant); !ok {
		markReconciling(er, "WaitingForTenant", why)
		return ctrl.Result{RequeueAfter: waitRequeue}, nil
	}
	if msg := r.checkSubjectSecret(ctx, er); msg != "" {
		markStalled(er, "SubjectSecretInvalid", msg)
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}

	w := erasureWorker(er, tenant)
	sa, role, rb := desiredWorkerRBAC(w)
	job := desiredWorkerJob(w, r.Worker)
	a := applier{Client: r.Client, reader: r.APIReader, scheme: r.Scheme, memo: &r.memo}
	if err := a.applyOwned(ctx, er, nil, sa, role, rb); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureJob(ctx, a, er, job); err != nil {
		return ctrl.Result{}, err
	}
	er.Status.JobName = job.Name

	cur := &batchv1.Job{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(job), cur); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	switch outcome, why := outcomeOf(cur); outcome {
	case jobRunning:
		markReconciling(er, string(er.Status.Phase), fmt.Sprintf("the erase worker is running (phase %s)", er.Status.Phase))
		return ctrl.Result{}, nil
	case jobFailed:
		if er.Status.Message == "" {
			er.Status.Message = why
		}
		return r.fail(er, er.Status.Message)
	}
	return r.complete(ctx, er, tenant)
}

// ensureJob creates the worker Job once; a Job's template is immutable, and
// a running worker must not be replaced, so an existing Job is left alone.
func (r *ErasureRequestReconciler) ensureJob(ctx context.Context, a applier, owner client.Object, job *batchv1.Job) error {
	err := r.Get(ctx, client.ObjectKeyFromObject(job), &batchv1.Job{})
	if apierrors.IsNotFound(err) {
		if err := a.applyOwned(ctx, owner, nil, job); err != nil {
			return err
		}
		r.Recorder.Eventf(owner, nil, corev1.EventTypeNormal, "JobCreated", "Run", "started worker Job %s", job.Name)
		return nil
	}
	return err
}

// erasureWorker describes the erase Job of a request.
func erasureWorker(er *v1alpha1.ErasureRequest, t *v1alpha1.Tenant) workerJob {
	w := workerJob{owner: er, tenant: t, command: "erase", resource: "erasurerequests", files: true,
		env: append(databaseEnv(t), sessionsEnv(t),
			corev1.EnvVar{Name: "INBOXCHAT_RETENTION_SECURITY_LOGS", Value: t.Spec.Retention.SecurityLogsPeriod().String()},
			corev1.EnvVar{Name: "INBOXCHAT_RETENTION_EXPORTS", Value: t.Spec.Retention.ExportsPeriod().String()}),
	}
	if t.Spec.DataMapRef != nil {
		w.env = append(w.env, corev1.EnvVar{Name: "INBOXCHAT_DATA_MAP", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: *t.Spec.DataMapRef, Key: "datamap.yaml"}}})
	}
	if ref := er.Spec.Subject.SecretRef; ref != nil {
		w.secrets = []string{ref.Name}
	}
	return w
}

// subjectKeys are the keys a subject Secret may hold, by subject kind.
func subjectKeys(kind v1alpha1.SubjectKind) []string {
	if kind == v1alpha1.SubjectUser {
		return []string{"email", "id"}
	}
	return []string{"psid", "id"}
}

// checkSubjectSecret checks that the subject Secret exists and holds exactly
// one identifier key fit for the subject kind. It names keys, never values.
func (r *ErasureRequestReconciler) checkSubjectSecret(ctx context.Context, er *v1alpha1.ErasureRequest) string {
	ref := er.Spec.Subject.SecretRef
	if ref == nil {
		return ""
	}
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: er.Namespace, Name: ref.Name}, s); err != nil {
		return fmt.Sprintf("the subject Secret %s cannot be read: %v", ref.Name, apierrors.ReasonForError(err))
	}
	return SubjectSecretProblem(s, er.Spec.Subject.Kind)
}

// deleteSubjectSecret removes the Secret that named the subject, so no
// personal data stays in the cluster after completion.
func (r *ErasureRequestReconciler) deleteSubjectSecret(ctx context.Context, er *v1alpha1.ErasureRequest) error {
	ref := er.Spec.Subject.SecretRef
	if ref == nil {
		return nil
	}
	err := r.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: er.Namespace}})
	if err == nil {
		r.Recorder.Eventf(er, nil, corev1.EventTypeNormal, "SubjectSecretDeleted", "Cleanup", "deleted the subject Secret %s", ref.Name)
	}
	return client.IgnoreNotFound(err)
}

func (r *ErasureRequestReconciler) fail(er *v1alpha1.ErasureRequest, msg string) (ctrl.Result, error) {
	er.Status.Phase = v1alpha1.ErasureFailed
	er.Status.Message = msg
	markStalled(er, "ErasureFailed", msg+"; annotate "+v1alpha1.AnnotationRetry+"=<any new value> to try again")
	r.Recorder.Eventf(er, nil, corev1.EventTypeWarning, "ErasureFailed", "Erase", "%s", msg)
	return ctrl.Result{}, nil
}

// retry deletes the failed Job so a new one starts.
func (r *ErasureRequestReconciler) retry(ctx context.Context, er *v1alpha1.ErasureRequest, token string) (ctrl.Result, error) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: erasureWorker(er, &v1alpha1.Tenant{}).name(), Namespace: er.Namespace}}
	if err := r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	er.Status.Phase = v1alpha1.ErasurePending
	er.Status.Message = ""
	er.Status.LastRetry = token
	markReconciling(er, "Retrying", "retrying on request")
	r.Recorder.Eventf(er, nil, corev1.EventTypeNormal, "Retrying", "Retry", "retrying the erasure on request")
	return ctrl.Result{RequeueAfter: time.Second}, nil
}

// receiptPayload is what a receipt hashes: the request and its verified
// results, without personal data.
type receiptPayload struct {
	Tenant      string                  `json:"tenant"`
	Request     string                  `json:"request"`
	UID         string                  `json:"uid"`
	Subject     string                  `json:"subjectFingerprint"`
	Mode        v1alpha1.ErasureMode    `json:"mode"`
	DryRun      bool                    `json:"dryRun"`
	Stores      []v1alpha1.StoreErasure `json:"stores"`
	ExportSHA   string                  `json:"exportSHA256,omitempty"`
	CompletedAt string                  `json:"completedAt"`
}

// complete checks the worker's verified results and chains the receipt to the
// tenant's previous one. The receipt is written to the request first, then
// to the Tenant under an optimistic lock, so a crash or a concurrent request
// cannot fork the chain: a request whose previous receipt is no longer the
// tenant's newest is chained again.
func (r *ErasureRequestReconciler) complete(ctx context.Context, er *v1alpha1.ErasureRequest, t *v1alpha1.Tenant) (ctrl.Result, error) {
	if !er.Spec.DryRun && er.Spec.Mode != v1alpha1.ErasureModeExport {
		for _, s := range er.Status.Stores {
			if s.Remaining != 0 {
				return r.fail(er, fmt.Sprintf("store %s still holds %d records of the subject after erasure", s.Name, s.Remaining))
			}
		}
		if len(er.Status.Stores) == 0 {
			return r.fail(er, "the erase worker finished without reporting any store")
		}
	}
	if er.Status.CompletedAt == nil {
		now := metav1.NewTime(r.Clock.Now().Truncate(time.Second))
		er.Status.CompletedAt = &now
	}
	if er.Status.Receipt == "" || (t.Status.LastReceipt != er.Status.Receipt && t.Status.LastReceipt != er.Status.PreviousReceipt) {
		p := receiptPayload{Tenant: t.Name, Request: er.Namespace + "/" + er.Name, UID: string(er.UID), Subject: er.Status.SubjectFingerprint,
			Mode: er.Spec.Mode, DryRun: er.Spec.DryRun, Stores: er.Status.Stores, CompletedAt: er.Status.CompletedAt.UTC().Format(time.RFC3339)}
		if er.Status.Export != nil {
			p.ExportSHA = er.Status.Export.SHA256
		}
		payload, err := json.Marshal(p)
		if err != nil {
			return ctrl.Result{}, err
		}
		er.Status.PreviousReceipt = t.Status.LastReceipt
		er.Status.Receipt = crypto.NextReceipt(t.Status.LastReceipt, payload)
		markReconciling(er, "Receipting", "chaining the receipt to the tenant's previous one")
		return ctrl.Result{Requeue: true}, nil // the deferred patch records the receipt first
	}
	if t.Status.LastReceipt != er.Status.Receipt {
		patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
		t.Status.LastReceipt = er.Status.Receipt
		if err := r.Status().Patch(ctx, t, patch); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{Requeue: true}, nil
			}
			return ctrl.Result{}, err
		}
	}
	er.Status.Phase = v1alpha1.ErasureCompleted
	if err := r.deleteSubjectSecret(ctx, er); err != nil {
		return ctrl.Result{}, err
	}
	markReady(er, "Completed", completedMessage(er))
	r.Recorder.Eventf(er, nil, corev1.EventTypeNormal, "Completed", "Erase", "%s", completedMessage(er))
	data := mail.ErasureCompletedData{Tenant: t.Name, Request: er.Name, Mode: string(er.Spec.Mode), DryRun: er.Spec.DryRun,
		CompletedAt: er.Status.CompletedAt.Time, Receipt: er.Status.Receipt}
	for _, s := range er.Status.Stores {
		data.Stores = append(data.Stores, mail.StoreOutcome{Name: s.Name, Erased: s.Erased, Retained: s.Retained, RetainedReason: s.RetainedReason})
	}
	sendNotice(ctx, r.Notifier, r.Recorder, er, t, mail.KindErasureCompleted, data)
	return ctrl.Result{}, nil
}

func completedMessage(er *v1alpha1.ErasureRequest) string {
	var erased, retained int64
	for _, s := range er.Status.Stores {
		erased += s.Erased
		retained += s.Retained
	}
	verb := "erased"
	if er.Spec.DryRun {
		verb = "would erase (dry run)"
	} else if er.Spec.Mode == v1alpha1.ErasureModeExport {
		verb = "exported"
	}
	return fmt.Sprintf("%s %d records across %d stores, retained %d, verified by re-query", verb, erased, len(er.Status.Stores), retained)
}

// SetupWithManager registers the controller; it watches its Jobs.
func (r *ErasureRequestReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ErasureRequest{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, statusPhaseChanged{}))).
		Owns(&batchv1.Job{}).
		Owns(&rbacv1.Role{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Named("erasurerequest").
		Complete(r)
}
