package localnode_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/localnode"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

var managed = map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	gomega.NewWithT(t).Eventually(cond).WithTimeout(30*time.Second).WithPolling(100*time.Millisecond).Should(gomega.BeTrue(), "waiting for %s", what)
}

func TestNodeRunsWorkloadsAndJobs(t *testing.T) {
	env, cfg, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	k8s, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	node := &localnode.Node{Config: cfg, Binary: "/bin/sh", Root: t.TempDir(), RetryDelay: 10 * time.Millisecond}
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ns := "work"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	t.Run("a managed Deployment becomes available", func(t *testing.T) {
		labels := map[string]string{"app": "web"}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: managed},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
				},
			},
		}
		if err := k8s.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the Deployment to report 3 available replicas", func() bool {
			_ = k8s.Get(ctx, client.ObjectKeyFromObject(d), d)
			return d.Status.AvailableReplicas == 3 && d.Status.ObservedGeneration == d.Generation
		})
	})

	t.Run("a Job runs with its env, secret mount and volume, then completes", func(t *testing.T) {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns}, Data: map[string][]byte{"token": []byte("s3cret")}}
		if err := k8s.Create(ctx, secret); err != nil {
			t.Fatal(err)
		}
		job := shellJob(ns, "ok", `cat /etc/creds/token > /data/out && echo "$GREETING $POD_NS" >> /data/out && test -n "$KUBECONFIG"`, 0)
		if err := k8s.Create(ctx, job); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the Job to complete", func() bool {
			_ = k8s.Get(ctx, client.ObjectKeyFromObject(job), job)
			return hasCondition(job, batchv1.JobComplete)
		})
		if job.Status.Succeeded != 1 || job.Status.CompletionTime == nil || !hasCondition(job, batchv1.JobSuccessCriteriaMet) {
			t.Fatalf("the Job status is not what the Job controller would write: %+v", job.Status)
		}
		out, err := os.ReadFile(filepath.Join(node.ClaimDir(ns, "files"), "out"))
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != "s3crethello work\n" {
			t.Fatalf("the worker saw %q", out)
		}
	})

	t.Run("a failing Job is retried up to its backoffLimit, then fails", func(t *testing.T) {
		job := shellJob(ns, "bad", `echo attempt >> /data/attempts; exit 3`, 1)
		if err := k8s.Create(ctx, job); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the Job to fail", func() bool {
			_ = k8s.Get(ctx, client.ObjectKeyFromObject(job), job)
			return hasCondition(job, batchv1.JobFailed)
		})
		if job.Status.Failed != 2 {
			t.Fatalf("want 2 failed pods (backoffLimit 1), got %d", job.Status.Failed)
		}
	})

	t.Run("an exit code its pod failure policy names fails the Job at once", func(t *testing.T) {
		policy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
			{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{4}}},
			{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{ContainerName: ptr.To("w"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}}},
		}}
		refused := shellJob(ns, "refused", `echo attempt >> /data/refused; exit 3`, 5)
		refused.Spec.PodFailurePolicy = policy
		counted := shellJob(ns, "counted", `exit 4`, 1)
		counted.Spec.PodFailurePolicy = policy
		for _, j := range []*batchv1.Job{refused, counted} {
			if err := k8s.Create(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		for _, j := range []*batchv1.Job{refused, counted} {
			eventually(t, "Job "+j.Name+" to fail", func() bool {
				_ = k8s.Get(ctx, client.ObjectKeyFromObject(j), j)
				return hasCondition(j, batchv1.JobFailed)
			})
		}
		if refused.Status.Failed != 1 || !hasReason(refused, batchv1.JobFailed, batchv1.JobReasonPodFailurePolicy) {
			t.Errorf("exit 3 (FailJob) must fail the Job after one pod, reason PodFailurePolicy: %+v", refused.Status)
		}
		if counted.Status.Failed != 2 || !hasReason(counted, batchv1.JobFailed, "BackoffLimitExceeded") {
			t.Errorf("exit 4 (Count) must use up the backoff limit: %+v", counted.Status)
		}
	})
}

func hasReason(j *batchv1.Job, typ batchv1.JobConditionType, reason string) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue && c.Reason == reason {
			return true
		}
	}
	return false
}

func hasCondition(j *batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func shellJob(ns, name, script string, backoff int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: managed},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(backoff),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "w", Image: "w:1", Command: []string{"sh", "-c", script},
					Env: []corev1.EnvVar{
						{Name: "GREETING", Value: "hello"},
						{Name: "POD_NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
					},
					VolumeMounts: []corev1.VolumeMount{{Name: "creds", MountPath: "/etc/creds"}, {Name: "files", MountPath: "/data"}},
				}},
				Volumes: []corev1.Volume{
					{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
					{Name: "files", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "files"}}},
				},
			}},
		},
	}
}
