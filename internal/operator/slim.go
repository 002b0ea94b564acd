package operator

import (
	"reflect"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/controllers"
)

// slimObject is the cache transform of the operator's children: it keeps
// the metadata the controllers read (name, labels, owner references,
// generation) and the status of workloads, replaces everything else by a
// hash of it (see controllers.ObservedHash), and drops managed fields. The
// cache then holds a few hundred bytes per object instead of whole pod
// templates and certificates, so its memory stays small with thousands of
// tenants; the controllers read a full object through the API only when its
// hash changed.
func slimObject(obj any) (any, error) {
	o, ok := obj.(client.Object)
	if !ok {
		return obj, nil
	}
	hash, err := controllers.ObservedHash(o)
	if err != nil {
		return obj, nil
	}
	meta := metav1.ObjectMeta{
		Name: o.GetName(), Namespace: intern(o.GetNamespace()), UID: o.GetUID(), ResourceVersion: o.GetResourceVersion(),
		Generation: o.GetGeneration(), CreationTimestamp: o.GetCreationTimestamp(), DeletionTimestamp: o.GetDeletionTimestamp(),
		OwnerReferences: internOwners(o.GetOwnerReferences()), Finalizers: o.GetFinalizers(),
	}
	// Labels are read from the cache only on namespaces (which Tenant) and
	// claims (re-adopting retained data); elsewhere the hash covers them.
	switch o.(type) {
	case *corev1.Namespace, *corev1.PersistentVolumeClaim:
		meta.Labels = make(map[string]string, len(o.GetLabels()))
		for k, v := range o.GetLabels() {
			meta.Labels[intern(k)] = intern(v)
		}
		meta.Annotations = make(map[string]string, len(o.GetAnnotations())+1)
		for k, v := range o.GetAnnotations() {
			meta.Annotations[intern(k)] = v
		}
	}
	controllers.SetObservedHash(&meta, hash)
	var slim client.Object
	switch v := o.(type) {
	case *appsv1.Deployment:
		slim = &appsv1.Deployment{TypeMeta: v.TypeMeta, Status: v.Status, Spec: appsv1.DeploymentSpec{Replicas: v.Spec.Replicas}}
	case *appsv1.StatefulSet:
		slim = &appsv1.StatefulSet{TypeMeta: v.TypeMeta, Status: v.Status, Spec: appsv1.StatefulSetSpec{Replicas: v.Spec.Replicas}}
	case *batchv1.Job:
		// Outcomes come from the status; a Broadcast pauses its Job by
		// spec.suspend.
		slim = &batchv1.Job{TypeMeta: v.TypeMeta, Status: v.Status, Spec: batchv1.JobSpec{Suspend: v.Spec.Suspend}}
	default:
		// A zero value of the same type, which gets the metadata only.
		slim = reflect.New(reflect.TypeOf(o).Elem()).Interface().(client.Object)
	}
	*slim.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta) = meta
	return slim, nil
}

// intern returns the one copy of a string that many cached objects repeat
// (a tenant's namespace, its owner reference, label keys and values), so
// thousands of objects do not each keep their own.
func intern(s string) string { return unique.Make(s).Value() }

var yes, no = true, false

// internOwners copies owner references with interned strings and shared
// flags.
func internOwners(refs []metav1.OwnerReference) []metav1.OwnerReference {
	if len(refs) == 0 {
		return nil
	}
	flag := func(b *bool) *bool {
		switch {
		case b == nil:
			return nil
		case *b:
			return &yes
		default:
			return &no
		}
	}
	out := make([]metav1.OwnerReference, len(refs))
	for i, r := range refs {
		out[i] = metav1.OwnerReference{APIVersion: intern(r.APIVersion), Kind: intern(r.Kind), Name: intern(r.Name),
			UID: types.UID(intern(string(r.UID))), Controller: flag(r.Controller), BlockOwnerDeletion: flag(r.BlockOwnerDeletion)}
	}
	return out
}
