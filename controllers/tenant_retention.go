package controllers

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

const (
	pruneName       = "inboxchat-prune"
	pruneReportName = "inboxchat-prune-report"
	// pruneSchedule runs the retention worker daily, off the hour.
	pruneSchedule = "17 3 * * *"
)

// desiredTenantWorker is the RBAC, report ConfigMap and Job of a worker
// that works for the Tenant itself (prune, offboard): its ServiceAccount may
// patch that one report ConfigMap and nothing else; the Tenant, being
// cluster-scoped, reads the report.
func desiredTenantWorker(t *v1alpha1.Tenant, o WorkerOptions, command, reportName string) (*corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding, *corev1.ConfigMap, *batchv1.Job) {
	ns := t.NamespaceName()
	name := "inboxchat-" + command
	labels := componentLabels(t, componentWorker)
	labels[labelWorker] = command
	meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	sa := &corev1.ServiceAccount{ObjectMeta: meta, AutomountServiceAccountToken: ptr.To(false)}
	role := &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{reportName}, Verbs: []string{"get", "patch", "update"},
	}}}
	rb := &rbacv1.RoleBinding{ObjectMeta: meta,
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}}
	report := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: reportName, Namespace: ns, Labels: labels}}
	w := workerJob{owner: t, tenant: t, command: command, files: true,
		args: []string{"--report-configmap=" + reportName},
		env: append(databaseEnv(t), sessionsEnv(t),
			corev1.EnvVar{Name: "INBOXCHAT_RETENTION_SECURITY_LOGS", Value: t.Spec.Retention.SecurityLogsPeriod().String()},
			corev1.EnvVar{Name: "INBOXCHAT_RETENTION_EXPORTS", Value: t.Spec.Retention.ExportsPeriod().String()})}
	if t.Spec.DataMapRef != nil {
		w.env = append(w.env, corev1.EnvVar{Name: "INBOXCHAT_DATA_MAP", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: *t.Spec.DataMapRef, Key: "datamap.yaml"}}})
	}
	job := desiredWorkerJob(w, o)
	// The Tenant is cluster-scoped: the worker's namespace is the tenant's.
	job.Namespace, job.Name = ns, name
	job.Spec.Template.Spec.ServiceAccountName = name
	for i, a := range job.Spec.Template.Spec.Containers[0].Args {
		if a == "--namespace=" {
			job.Spec.Template.Spec.Containers[0].Args[i] = "--namespace=" + ns
		}
	}
	return sa, role, rb, report, job
}

// desiredPrune is the retention CronJob ("destroy footprints"): it deletes
// security-log rows past spec.retention.securityLogs, expired exports and
// orphaned sessions, and writes its counts to a report ConfigMap that the
// Tenant's status reflects.
func desiredPrune(t *v1alpha1.Tenant, o WorkerOptions) (*corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding, *corev1.ConfigMap, *batchv1.CronJob) {
	sa, role, rb, report, job := desiredTenantWorker(t, o, "prune", pruneReportName)
	cron := &batchv1.CronJob{
		ObjectMeta: sa.ObjectMeta,
		Spec: batchv1.CronJobSpec{
			Schedule:                   pruneSchedule,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			Suspend:                    ptr.To(t.Spec.Suspend),
			SuccessfulJobsHistoryLimit: ptr.To[int32](1),
			FailedJobsHistoryLimit:     ptr.To[int32](3),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sa.Labels},
				Spec:       job.Spec,
			},
		},
	}
	return sa, role, rb, report, cron
}

// reconcileRetention applies the prune CronJob and reflects its last report.
func (r *TenantReconciler) reconcileRetention(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	sa, role, rb, report, cron := desiredPrune(t, r.Worker)
	if err := r.applyAll(ctx, t, sa, role, rb, cron); err != nil {
		return nil, err
	}
	// The cache holds the report without its data: read the data through
	// the API, once per version of the report.
	key := client.ObjectKeyFromObject(report)
	slim := &corev1.ConfigMap{}
	err := r.Get(ctx, key, slim)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, slim)
	}
	if apierrors.IsNotFound(err) {
		// Created once, empty; the prune worker fills it.
		return nil, r.applyAll(ctx, t, report)
	}
	if err != nil {
		return nil, err
	}
	cur, ok := r.reportData.get(key, slim.UID, slim.ResourceVersion)
	if !ok {
		full := &corev1.ConfigMap{}
		if err := r.APIReader.Get(ctx, key, full); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		r.reportData.put(key, full.UID, full.ResourceVersion, full.Data)
		cur = full.Data
	}
	if ran, err := time.Parse(time.RFC3339, cur["ranAt"]); err == nil {
		num := func(k string) int64 { n, _ := strconv.ParseInt(cur[k], 10, 64); return n }
		at := metav1.NewTime(ran)
		t.Status.Retention = &v1alpha1.RetentionStatus{
			LastPruneAt:        &at,
			SecurityLogsPruned: num("securityLogsPruned"),
			ExportsPruned:      num("exportsPruned"),
			SessionsPruned:     num("sessionsPruned"),
		}
	}
	return nil, nil
}

// dataVersions keeps the data of ConfigMaps the cache holds without it, by
// version.
type dataVersions struct {
	mu      sync.Mutex
	entries map[client.ObjectKey]versionedData
}

type versionedData struct {
	uid             types.UID
	resourceVersion string
	data            map[string]string
}

// get returns the data read at that uid and resourceVersion.
func (v *dataVersions) get(key client.ObjectKey, uid types.UID, resourceVersion string) (map[string]string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.entries[key]
	if !ok || e.uid != uid || e.resourceVersion != resourceVersion || resourceVersion == "" {
		return nil, false
	}
	return maps.Clone(e.data), true
}

func (v *dataVersions) put(key client.ObjectKey, uid types.UID, resourceVersion string, data map[string]string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entries == nil {
		v.entries = map[client.ObjectKey]versionedData{}
	}
	v.entries[key] = versionedData{uid: uid, resourceVersion: resourceVersion, data: maps.Clone(data)}
}

// forgetNamespace drops every entry of a namespace.
func (v *dataVersions) forgetNamespace(ns string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k := range v.entries {
		if k.Namespace == ns {
			delete(v.entries, k)
		}
	}
}
