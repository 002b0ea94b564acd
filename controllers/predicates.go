package controllers

import (
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// statusPhaseChanged passes updates in which a worker moved the object's
// status.phase, so the controller reacts to the worker's progress without
// reacting to its own status writes.
type statusPhaseChanged struct{ predicate.Funcs }

func phaseOf(obj any) string {
	switch o := obj.(type) {
	case *v1alpha1.ErasureRequest:
		return string(o.Status.Phase)
	case *v1alpha1.Broadcast:
		return string(o.Status.Phase)
	case *v1alpha1.PolicyUpdate:
		return string(o.Status.Phase)
	}
	return ""
}

func (statusPhaseChanged) Update(e event.UpdateEvent) bool {
	return phaseOf(e.ObjectOld) != phaseOf(e.ObjectNew)
}
