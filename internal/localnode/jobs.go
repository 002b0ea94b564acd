package localnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// jobReconciler runs each Job's pod template as a local process.
type jobReconciler struct {
	client.Client
	reader client.Reader
	node   *Node
	log    logr.Logger

	mu      sync.Mutex
	running map[types.UID]context.CancelFunc
}

func jobFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func (r *jobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	j := &batchv1.Job{}
	if err := r.Get(ctx, req.NamespacedName, j); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.mu.Lock()
	cancel, isRunning := r.running[j.UID]
	r.mu.Unlock()
	suspended := j.Spec.Suspend != nil && *j.Spec.Suspend
	if !j.DeletionTimestamp.IsZero() || suspended {
		if isRunning {
			cancel()
		}
		return ctrl.Result{}, nil
	}
	if isRunning || jobFinished(j) {
		return ctrl.Result{}, nil
	}
	runCtx, cancel := context.WithCancel(r.node.ctx)
	r.mu.Lock()
	r.running[j.UID] = cancel
	r.mu.Unlock()
	go r.run(runCtx, j.DeepCopy())
	return ctrl.Result{}, nil
}

// Kill stops the process of a running Job, as if its pod had been killed;
// the Job then retries within its backoffLimit.
func (r *jobReconciler) kill(uid types.UID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.node.procs[uid]
	if ok && p != nil && p.Process != nil {
		_ = p.Process.Kill()
	}
	return ok
}

// run executes the Job until it succeeds or exhausts its backoffLimit.
func (r *jobReconciler) run(ctx context.Context, j *batchv1.Job) {
	defer func() {
		r.mu.Lock()
		delete(r.running, j.UID)
		r.mu.Unlock()
	}()
	log := r.log.WithValues("job", client.ObjectKeyFromObject(j))
	backoffLimit := int32(6)
	if j.Spec.BackoffLimit != nil {
		backoffLimit = *j.Spec.BackoffLimit
	}
	start := metav1.Now()
	failed := j.Status.Failed
	if err := r.patchStatus(ctx, j, func(s *batchv1.JobStatus) {
		if s.StartTime == nil {
			s.StartTime = &start
		}
		s.Active = 1
	}); errors.Is(err, errJobFinished) {
		// The cache was behind: the Job ran to its end already.
		return
	} else if err != nil {
		log.Error(err, "recording the job start")
		return
	}
	for {
		err := r.runOnce(ctx, j, failed)
		if ctx.Err() != nil {
			_ = r.patchStatus(context.Background(), j, func(s *batchv1.JobStatus) { s.Active = 0 })
			return
		}
		if err == nil {
			now := metav1.Now()
			_ = r.patchStatus(ctx, j, func(s *batchv1.JobStatus) {
				s.Active, s.Succeeded = 0, 1
				s.CompletionTime = &now
				s.Conditions = append(s.Conditions,
					batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods", LastProbeTime: now, LastTransitionTime: now},
					batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods", LastProbeTime: now, LastTransitionTime: now})
			})
			log.Info("job succeeded")
			return
		}
		failed++
		log.Info("job pod failed", "failed", failed, "error", err.Error())
		// A failed Job gets FailureTarget, then Failed, with the same reason,
		// as the Job controller writes them.
		fail := func(reason, msg string) {
			now := metav1.Now()
			_ = r.patchStatus(ctx, j, func(s *batchv1.JobStatus) {
				s.Active, s.Failed = 0, failed
				for _, typ := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
					s.Conditions = append(s.Conditions, batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastProbeTime: now, LastTransitionTime: now})
				}
			})
		}
		if exitCodeFailsJob(j, err) {
			fail(batchv1.JobReasonPodFailurePolicy, "the container's exit code matches a FailJob rule of the pod failure policy")
			return
		}
		if failed > backoffLimit {
			fail(batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
			return
		}
		_ = r.patchStatus(ctx, j, func(s *batchv1.JobStatus) { s.Failed = failed })
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.node.RetryDelay):
		}
	}
}

// exitCodeFailsJob reports whether the first OnExitCodes rule of the Job's
// pod failure policy that the run's exit code matches says FailJob, as the
// Job controller decides (pod-condition rules never match here: a local
// process is not evicted).
func exitCodeFailsJob(j *batchv1.Job, runErr error) bool {
	var exit *exec.ExitError
	if j.Spec.PodFailurePolicy == nil || !errors.As(runErr, &exit) || len(j.Spec.Template.Spec.Containers) == 0 {
		return false
	}
	container := j.Spec.Template.Spec.Containers[0].Name
	for _, rule := range j.Spec.PodFailurePolicy.Rules {
		req := rule.OnExitCodes
		if req == nil || (req.ContainerName != nil && *req.ContainerName != container) {
			continue
		}
		in := slices.Contains(req.Values, int32(exit.ExitCode()))
		if in == (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) {
			return rule.Action == batchv1.PodFailurePolicyActionFailJob
		}
	}
	return false
}

// patchStatus applies a change to the Job status, reading the newest version first.
func (r *jobReconciler) patchStatus(ctx context.Context, j *batchv1.Job, change func(*batchv1.JobStatus)) error {
	cur := &batchv1.Job{}
	if err := r.reader.Get(ctx, client.ObjectKeyFromObject(j), cur); err != nil {
		return err
	}
	if jobFinished(cur) {
		return errJobFinished
	}
	patch := client.MergeFrom(cur.DeepCopy())
	change(&cur.Status)
	return r.Status().Patch(ctx, cur, patch)
}

// errJobFinished is patchStatus refusing to change a Job that has finished.
var errJobFinished = errors.New("the job has finished")

// runOnce materialises the pod's volumes and environment and runs its first
// container as a local process.
func (r *jobReconciler) runOnce(ctx context.Context, j *batchv1.Job, attempt int32) error {
	spec := j.Spec.Template.Spec
	if len(spec.Containers) == 0 {
		return errors.New("the pod template has no container")
	}
	c := spec.Containers[0]
	podName := fmt.Sprintf("%s-local-%d", j.Name, attempt)
	dir := filepath.Join(r.node.Root, "pods", string(j.UID), podName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	mounts, err := r.materializeVolumes(ctx, j.Namespace, spec, c, dir)
	if err != nil {
		return fmt.Errorf("mounting volumes: %w", err)
	}
	env, err := r.resolveEnv(ctx, j.Namespace, podName, c)
	if err != nil {
		return fmt.Errorf("resolving the environment: %w", err)
	}
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	kubeconfig, err := r.node.kubeconfigFor(j.Namespace, sa, dir)
	if err != nil {
		return err
	}
	args := append(append([]string{}, c.Command...), c.Args...)
	if len(args) == 0 {
		return errors.New("the container has no command")
	}
	for i := range args {
		args[i] = rewritePaths(args[i], mounts)
	}
	for i := range env {
		env[i] = rewritePaths(env[i], mounts)
	}
	cmd := exec.CommandContext(ctx, r.node.Binary, args[1:]...)
	cmd.Env = append(append([]string{
		"KUBECONFIG=" + kubeconfig,
		"HOME=" + dir,
		"PATH=" + os.Getenv("PATH"),
	}, r.node.ExtraEnv...), env...)
	cmd.Dir = dir
	// Stopping a pod (Job suspended or deleted) sends SIGTERM and, after a
	// grace period, SIGKILL, as the kubelet does.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	cmd.Stdout, cmd.Stderr = r.node.Output, r.node.Output
	if err := cmd.Start(); err != nil {
		return err
	}
	r.mu.Lock()
	r.node.procs[j.UID] = cmd
	r.mu.Unlock()
	err = cmd.Wait()
	r.mu.Lock()
	delete(r.node.procs, j.UID)
	r.mu.Unlock()
	return err
}

// mount maps a container path to the local directory that stands for it.
type mount struct{ container, local string }

// rewritePaths replaces container mount paths in s with their local
// directories, in one pass, so a local path is never rewritten again (a
// local folder under /tmp and a container mount at /tmp, say). mounts are
// sorted longest container path first, which the replacer tries first.
func rewritePaths(s string, mounts []mount) string {
	pairs := make([]string, 0, 2*len(mounts))
	for _, m := range mounts {
		pairs = append(pairs, m.container, m.local)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func (r *jobReconciler) materializeVolumes(ctx context.Context, ns string, spec corev1.PodSpec, c corev1.Container, dir string) ([]mount, error) {
	local := map[string]string{}
	for _, v := range spec.Volumes {
		path := filepath.Join(dir, "volumes", v.Name)
		switch {
		case v.Secret != nil:
			s := &corev1.Secret{}
			if err := r.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: v.Secret.SecretName}, s); err != nil {
				return nil, err
			}
			if err := writeItems(path, s.Data, v.Secret.Items); err != nil {
				return nil, err
			}
		case v.ConfigMap != nil:
			cm := &corev1.ConfigMap{}
			if err := r.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: v.ConfigMap.Name}, cm); err != nil {
				return nil, err
			}
			data := map[string][]byte{}
			for k, val := range cm.Data {
				data[k] = []byte(val)
			}
			for k, val := range cm.BinaryData {
				data[k] = val
			}
			if err := writeItems(path, data, v.ConfigMap.Items); err != nil {
				return nil, err
			}
		case v.PersistentVolumeClaim != nil:
			path = r.node.ClaimDir(ns, v.PersistentVolumeClaim.ClaimName)
		case v.EmptyDir != nil:
		default:
			return nil, fmt.Errorf("volume %s: only secret, configMap, persistentVolumeClaim and emptyDir volumes are supported locally", v.Name)
		}
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, err
		}
		local[v.Name] = path
	}
	var mounts []mount
	for _, vm := range c.VolumeMounts {
		path, ok := local[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s names no volume", vm.Name)
		}
		if vm.SubPath != "" {
			path = filepath.Join(path, vm.SubPath)
		}
		mounts = append(mounts, mount{container: vm.MountPath, local: path})
	}
	// Longest container paths first, so /data/x is rewritten before /data.
	sort.Slice(mounts, func(a, b int) bool { return len(mounts[a].container) > len(mounts[b].container) })
	return mounts, nil
}

func writeItems(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		val, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("key %s is missing", it.Key)
		}
		p := filepath.Join(dir, it.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, val, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (r *jobReconciler) resolveEnv(ctx context.Context, ns, podName string, c corev1.Container) ([]string, error) {
	var env []string
	for _, from := range c.EnvFrom {
		switch {
		case from.SecretRef != nil:
			s := &corev1.Secret{}
			if err := r.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.SecretRef.Name}, s); err != nil {
				return nil, err
			}
			for k, v := range s.Data {
				env = append(env, from.Prefix+k+"="+string(v))
			}
		case from.ConfigMapRef != nil:
			cm := &corev1.ConfigMap{}
			if err := r.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.ConfigMapRef.Name}, cm); err != nil {
				return nil, err
			}
			for k, v := range cm.Data {
				env = append(env, from.Prefix+k+"="+v)
			}
		}
	}
	for _, e := range c.Env {
		val := e.Value
		if f := e.ValueFrom; f != nil {
			switch {
			case f.SecretKeyRef != nil:
				s := &corev1.Secret{}
				if err := r.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: f.SecretKeyRef.Name}, s); err != nil {
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				v, ok := s.Data[f.SecretKeyRef.Key]
				if !ok {
					return nil, fmt.Errorf("env %s: key %s is missing from Secret %s", e.Name, f.SecretKeyRef.Key, f.SecretKeyRef.Name)
				}
				val = string(v)
			case f.ConfigMapKeyRef != nil:
				cm := &corev1.ConfigMap{}
				if err := r.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: f.ConfigMapKeyRef.Name}, cm); err != nil {
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				val = cm.Data[f.ConfigMapKeyRef.Key]
			case f.FieldRef != nil:
				switch f.FieldRef.FieldPath {
				case "metadata.namespace":
					val = ns
				case "metadata.name":
					val = podName
				}
			}
		}
		env = append(env, e.Name+"="+val)
	}
	return env, nil
}
