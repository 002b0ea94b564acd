package controllers

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=get;list;watch;create;update;patch;delete

// Paths where a worker finds its inputs. The local stand-in node maps them
// to local folders; the workers take every path from flags or environment.
const (
	workerKeyringDir  = "/etc/inboxchat/keyring"
	workerAppDir      = "/etc/inboxchat/app"
	workerStoreTLSDir = "/etc/inboxchat/store-tls"
	workerFilesDir    = "/data/files"
	workerBinary      = "/inboxchat-operator"
	labelWorker       = "inboxchat.io/worker"
	labelOwnerName    = "inboxchat.io/owner"
)

// WorkerOptions say how worker Jobs run.
type WorkerOptions struct {
	// Image is the operator's image; workers are its subcommands.
	Image string
	// BackoffLimit is how often a failed worker pod is retried.
	BackoffLimit int32
}

// DefaultWorkerOptions run workers from the released image.
func DefaultWorkerOptions() WorkerOptions {
	return WorkerOptions{Image: "ghcr.io/inboxchat/inboxchat-operator:dev", BackoffLimit: 4}
}

// workerJob describes the one Job that does an object's work.
type workerJob struct {
	owner    client.Object // the Broadcast, ErasureRequest or PolicyUpdate
	tenant   *v1alpha1.Tenant
	command  string // the subcommand: broadcast, erase, notify
	resource string // the owner's resource, for its RBAC
	args     []string
	env      []corev1.EnvVar
	// files mounts the tenant's files volume (exports, uploads).
	files bool
	// secrets are extra Secrets the worker reads through the API (its
	// subject Secret, say); its Role may get only these by name.
	secrets []string
}

func (w workerJob) name() string { return "inboxchat-" + w.command + "-" + w.owner.GetName() }

func (w workerJob) labels() map[string]string {
	l := componentLabels(w.tenant, componentWorker)
	l[labelWorker] = w.command
	l[labelOwnerName] = w.owner.GetName()
	return l
}

// desiredWorkerRBAC is the worker's own ServiceAccount and a Role that lets
// it read its one object and patch that object's status -- nothing else.
func desiredWorkerRBAC(w workerJob) (*corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding) {
	ns, name := w.owner.GetNamespace(), w.name()
	meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: w.labels()}
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{w.resource}, ResourceNames: []string{w.owner.GetName()}, Verbs: []string{"get"}},
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{w.resource + "/status"}, ResourceNames: []string{w.owner.GetName()}, Verbs: []string{"get", "patch", "update"}},
	}
	if len(w.secrets) > 0 {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: w.secrets, Verbs: []string{"get"}})
	}
	return &corev1.ServiceAccount{ObjectMeta: meta, AutomountServiceAccountToken: ptr.To(false)},
		&rbacv1.Role{ObjectMeta: meta, Rules: rules},
		&rbacv1.RoleBinding{
			ObjectMeta: meta,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
		}
}

// databaseEnv points a worker at the tenant database.
func databaseEnv(t *v1alpha1.Tenant) []corev1.EnvVar {
	env := []corev1.EnvVar{{Name: "INBOXCHAT_DATABASE_ENGINE", Value: string(databaseEngine(t))}}
	if ext := t.Spec.Stores.Database.External; ext != nil {
		return append(env, secretEnv("INBOXCHAT_DATABASE_DSN", ext.SecretRef.Name, "dsn"))
	}
	return append(env, secretEnv("INBOXCHAT_DATABASE_DSN", dbSecretName, "dsn"))
}

// sessionsEnv points a worker at the tenant's Redis.
func sessionsEnv(t *v1alpha1.Tenant) corev1.EnvVar {
	if s := t.Spec.Stores.Sessions; s != nil && s.External != nil {
		return secretEnv("INBOXCHAT_REDIS_URL", s.External.SecretRef.Name, "url")
	}
	return secretEnv("INBOXCHAT_REDIS_URL", redisSecretName, "url")
}

// desiredWorkerJob runs the operator binary's worker subcommand with the
// tenant's keyring, app keys and store CA mounted read-only, restricted Pod
// Security, and the worker's own ServiceAccount token.
// WorkerExitRefused is the exit code of a worker that refused to act for a
// reason a retry cannot change (legal holds in force, say): its Job fails at
// once instead of running again up to the backoff limit.
const WorkerExitRefused = 3

// workerPodFailurePolicy fails the Job at once on WorkerExitRefused, and does
// not count a pod that a node drain or preemption stopped against the
// backoff limit.
func workerPodFailurePolicy(container string) *batchv1.PodFailurePolicy {
	return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: ptr.To(container), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{WorkerExitRefused}}},
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
			{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
	}}
}

func desiredWorkerJob(w workerJob, o WorkerOptions) *batchv1.Job {
	ns := w.owner.GetNamespace()
	args := append([]string{w.command,
		"--namespace=" + ns, "--name=" + w.owner.GetName(),
		"--keyring-dir=" + workerKeyringDir, "--app-secret-dir=" + workerAppDir,
	}, w.args...)
	mounts := []corev1.VolumeMount{
		{Name: "keyring", MountPath: workerKeyringDir, ReadOnly: true},
		{Name: "app", MountPath: workerAppDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	volumes := []corev1.Volume{
		{Name: "keyring", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: keyringSecretName, DefaultMode: ptr.To[int32](0o400)}}},
		{Name: "app", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: appSecretName, DefaultMode: ptr.To[int32](0o400)}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("64Mi"))}}},
	}
	if w.tenant.Spec.Stores.Database.Managed != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: "store-tls", MountPath: workerStoreTLSDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "store-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: storeTLSSecretName, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}, DefaultMode: ptr.To[int32](0o444)}}})
	}
	if w.files {
		args = append(args, "--files-dir="+workerFilesDir)
		mounts = append(mounts, corev1.VolumeMount{Name: "files", MountPath: workerFilesDir})
		volumes = append(volumes, corev1.Volume{Name: "files", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: filesClaimName}}})
	}
	env := append([]corev1.EnvVar{
		{Name: "INBOXCHAT_TENANT", Value: w.tenant.Name},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	}, w.env...)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: w.name(), Namespace: ns, Labels: w.labels()},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To(o.BackoffLimit),
			PodFailurePolicy:        workerPodFailurePolicy(w.command),
			TTLSecondsAfterFinished: nil, // the owner object deletes the Job with it
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: w.labels()},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ServiceAccountName:           w.name(),
					AutomountServiceAccountToken: ptr.To(true),
					SecurityContext:              restrictedPodSecurity(65532),
					Containers: []corev1.Container{{
						Name:            w.command,
						Image:           o.Image,
						Command:         []string{workerBinary},
						Args:            args,
						Env:             env,
						VolumeMounts:    mounts,
						SecurityContext: restrictedContainerSecurity(true),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// jobOutcome reads a Job's verdict.
type jobOutcome int

const (
	jobRunning jobOutcome = iota
	jobSucceeded
	jobFailed
)

func outcomeOf(j *batchv1.Job) (jobOutcome, string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return jobSucceeded, ""
		case batchv1.JobFailed:
			return jobFailed, fmt.Sprintf("the worker Job %s failed: %s", j.Name, c.Reason)
		}
	}
	return jobRunning, ""
}
