package controllers

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RoleBindings come after the Roles they grant, workloads after both.
func TestApplyStagesOrderRBACBeforeWorkloads(t *testing.T) {
	stages := map[string]int{}
	for _, o := range []client.Object{&rbacv1.Role{}, &corev1.ServiceAccount{}, &rbacv1.RoleBinding{}, &batchv1.Job{}, &batchv1.CronJob{}, &appsv1.Deployment{}, &appsv1.StatefulSet{}, &corev1.Service{}} {
		stages[fmt.Sprintf("%T", o)] = applyStage(o)
	}
	if !(stages["*v1.Role"] < stages["*v1.RoleBinding"] && stages["*v1.ServiceAccount"] < stages["*v1.RoleBinding"] &&
		stages["*v1.RoleBinding"] < stages["*v1.Job"] && stages["*v1.RoleBinding"] < stages["*v1.Deployment"] &&
		stages["*v1.RoleBinding"] < stages["*v1.CronJob"] && stages["*v1.RoleBinding"] < stages["*v1.StatefulSet"]) {
		t.Fatalf("wrong order: %v", stages)
	}
	for k, s := range stages {
		if s < 0 || s >= applyStages {
			t.Fatalf("%s in stage %d of %d", k, s, applyStages)
		}
	}
}
