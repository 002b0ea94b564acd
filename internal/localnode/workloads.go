package localnode

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// heldRecheck is how often a held namespace is looked at again.
const heldRecheck = 200 * time.Millisecond

// deploymentReconciler marks a Deployment's replicas ready and available.
type deploymentReconciler struct {
	client.Client
	node *Node
}

func (r *deploymentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if r.node.isHeld(req.Namespace) {
		return ctrl.Result{RequeueAfter: heldRecheck}, nil
	}
	d := &appsv1.Deployment{}
	if err := r.Get(ctx, req.NamespacedName, d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	want := d.Status.DeepCopy()
	want.ObservedGeneration = d.Generation
	want.Replicas, want.ReadyReplicas, want.AvailableReplicas, want.UpdatedReplicas = replicas, replicas, replicas, replicas
	want.UnavailableReplicas = 0
	setDeploymentCondition(want, appsv1.DeploymentAvailable, "MinimumReplicasAvailable", "Deployment has minimum availability.")
	setDeploymentCondition(want, appsv1.DeploymentProgressing, "NewReplicaSetAvailable", fmt.Sprintf("ReplicaSet %q has successfully progressed.", d.Name))
	if equality.Semantic.DeepEqual(*want, d.Status) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Status = *want
	return ctrl.Result{}, r.Status().Patch(ctx, d, patch)
}

func setDeploymentCondition(s *appsv1.DeploymentStatus, typ appsv1.DeploymentConditionType, reason, msg string) {
	for i := range s.Conditions {
		if s.Conditions[i].Type == typ {
			if s.Conditions[i].Status == corev1.ConditionTrue && s.Conditions[i].Reason == reason {
				return
			}
			s.Conditions = append(s.Conditions[:i], s.Conditions[i+1:]...)
			break
		}
	}
	now := metav1.Now()
	s.Conditions = append(s.Conditions, appsv1.DeploymentCondition{
		Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg,
		LastUpdateTime: now, LastTransitionTime: now,
	})
}

// statefulSetReconciler marks a StatefulSet's replicas ready and current.
type statefulSetReconciler struct {
	client.Client
	node *Node
}

func (r *statefulSetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if r.node.isHeld(req.Namespace) {
		return ctrl.Result{RequeueAfter: heldRecheck}, nil
	}
	s := &appsv1.StatefulSet{}
	if err := r.Get(ctx, req.NamespacedName, s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	replicas := int32(1)
	if s.Spec.Replicas != nil {
		replicas = *s.Spec.Replicas
	}
	want := s.Status.DeepCopy()
	want.ObservedGeneration = s.Generation
	want.Replicas, want.ReadyReplicas, want.AvailableReplicas = replicas, replicas, replicas
	want.CurrentReplicas, want.UpdatedReplicas = replicas, replicas
	rev := fmt.Sprintf("%s-%d", s.Name, s.Generation)
	want.CurrentRevision, want.UpdateRevision = rev, rev
	if equality.Semantic.DeepEqual(*want, s.Status) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(s.DeepCopy())
	s.Status = *want
	return ctrl.Result{}, r.Status().Patch(ctx, s, patch)
}
