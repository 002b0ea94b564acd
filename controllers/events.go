package controllers

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// event records a Kubernetes event on obj. Notes name objects and counts,
// never personal data.
func (r *TenantReconciler) event(obj runtime.Object, eventType, reason, action, note string, args ...any) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(obj, nil, eventType, reason, action, note, args...)
}
