package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// conditioned is an object of this API with status conditions.
type conditioned interface {
	GetGeneration() int64
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// setCondition sets one condition, keeping lastTransitionTime when the status
// does not change, so that an unchanged reconcile writes nothing.
func setCondition(obj conditioned, typ string, status metav1.ConditionStatus, reason, message string) {
	conds := obj.GetConditions()
	meta.SetStatusCondition(&conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(conds)
}

// removeCondition removes a condition type.
func removeCondition(obj conditioned, typ string) {
	conds := obj.GetConditions()
	meta.RemoveStatusCondition(&conds, typ)
	obj.SetConditions(conds)
}

// markReady records the kstatus verdict "Current": Ready=True, and neither
// Reconciling nor Stalled.
func markReady(obj conditioned, reason, message string) {
	setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
	removeCondition(obj, v1alpha1.ConditionReconciling)
	removeCondition(obj, v1alpha1.ConditionStalled)
}

// markReconciling records the kstatus verdict "InProgress": Reconciling=True
// and Ready=False with the same reason.
func markReconciling(obj conditioned, reason, message string) {
	setCondition(obj, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	removeCondition(obj, v1alpha1.ConditionStalled)
}

// markStalled records the kstatus verdict "Failed": Stalled=True and
// Ready=False; a human must change something before progress resumes.
func markStalled(obj conditioned, reason, message string) {
	setCondition(obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	removeCondition(obj, v1alpha1.ConditionReconciling)
}
