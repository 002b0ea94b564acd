package controllers

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// schemaVersion is the newest migration of the reference schema for the
// engine; a Job per version applies them to a managed database.
func schemaVersion(engine v1alpha1.DatabaseEngine) int64 {
	ms, err := schema.Migrations(schema.Engine(engine))
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// desiredMigrateJob applies the reference schema to the managed database.
// It needs no Kubernetes API: it runs as the workers' ServiceAccount without
// a token.
func desiredMigrateJob(t *v1alpha1.Tenant, o WorkerOptions) *batchv1.Job {
	job := desiredWorkerJob(workerJob{owner: t, tenant: t, command: "migrate", env: databaseEnv(t)}, o)
	job.Namespace = t.NamespaceName()
	job.Name = fmt.Sprintf("inboxchat-migrate-v%d", schemaVersion(databaseEngine(t)))
	spec := &job.Spec.Template.Spec
	spec.ServiceAccountName = workerSAName
	spec.AutomountServiceAccountToken = ptr.To(false)
	for i, a := range spec.Containers[0].Args {
		if a == "--namespace=" {
			spec.Containers[0].Args[i] = "--namespace=" + t.NamespaceName()
		}
	}
	return job
}

// reconcileMigration runs the migrate Job of the current schema version once
// the managed database is up, and reports whether the schema is in place.
func (r *TenantReconciler) reconcileMigration(ctx context.Context, t *v1alpha1.Tenant) (bool, error) {
	job := desiredMigrateJob(t, r.Worker)
	cur := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKeyFromObject(job), cur)
	if apierrors.IsNotFound(err) {
		if err := r.applyAll(ctx, t, job); err != nil {
			return false, err
		}
		setCondition(t, v1alpha1.ConditionStoresReady, metav1.ConditionFalse, "Migrating", "applying the reference schema to the managed database (Job "+job.Name+")")
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch outcome, why := outcomeOf(cur); outcome {
	case jobRunning:
		setCondition(t, v1alpha1.ConditionStoresReady, metav1.ConditionFalse, "Migrating", "applying the reference schema to the managed database (Job "+job.Name+")")
		return false, nil
	case jobFailed:
		setCondition(t, v1alpha1.ConditionStoresReady, metav1.ConditionFalse, "MigrationFailed", why+"; delete the Job to try again")
		return false, nil
	}
	return true, nil
}
