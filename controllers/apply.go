package controllers

import (
	"context"
	"fmt"
	"maps"
	"reflect"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// applier writes desired children with server-side apply under one field
// owner, and only when the live object differs from what is desired, so a
// reconcile that finds everything in place makes no write at all.
type applier struct {
	client.Client
	// reader reads through the API: whole objects where the cache holds
	// slim copies, and other projects' kinds the cache does not hold.
	reader client.Reader
	scheme *runtime.Scheme
	// memo remembers what was found in place; nil disables it.
	memo *appliedMemo
}

// apply makes the live object match desired, writing only when it differs.
//
// The cache may hold a slim copy of the live object (metadata, status and a
// hash of the rest; see ObservedHash). When the memo says this desired state
// was found in place at the live object's current hash, nothing is read or
// written. Otherwise the full object is read through the API reader and
// compared: when every field that desired sets already holds the desired
// value (fields the API server defaulted or others own are ignored), nothing
// is written; else desired is applied with server-side apply, which also
// repairs drift -- fields changed by hand go back, fields removed come back.
// It reports whether it wrote.
func (a applier) apply(ctx context.Context, desired client.Object) (bool, error) {
	gvk, err := apiutil.GVKForObject(desired, a.scheme)
	if err != nil {
		return false, err
	}
	want, err := desiredHash(desired)
	if err != nil {
		return false, err
	}
	current, ok := reflect.New(reflect.TypeOf(desired).Elem()).Interface().(client.Object)
	if !ok {
		return false, fmt.Errorf("%s is not a client.Object", gvk.Kind)
	}
	var reader client.Reader = a.Client
	if u, isUnstructured := current.(*unstructured.Unstructured); isUnstructured {
		u.SetGroupVersionKind(gvk)
		reader = a.reader
	}
	err = reader.Get(ctx, client.ObjectKeyFromObject(desired), current)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, err
	default:
		observed := current.GetAnnotations()[ObservedHashAnnotation]
		if m, ok := a.memo.get(current.GetUID()); ok && observed != "" && m.desired == want && m.observed == observed {
			return false, nil
		}
		if observed != "" {
			// A slim cached copy: compare against the whole object.
			if err := a.reader.Get(ctx, client.ObjectKeyFromObject(desired), current); err != nil {
				return false, client.IgnoreNotFound(err)
			}
		}
		same, err := containsDesired(desired, current)
		if err != nil {
			return false, err
		}
		if same {
			a.remember(current, want)
			return false, nil
		}
	}
	desired.GetObjectKind().SetGroupVersionKind(gvk)
	desired.SetManagedFields(nil)
	desired.SetResourceVersion("")
	if err := a.Patch(ctx, desired, client.Apply, fieldOwner, client.ForceOwnership); err != nil {
		return false, fmt.Errorf("applying %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(desired), err)
	}
	// desired now holds the object as the server returned it.
	a.remember(desired, want)
	return true, nil
}

// remember records that the live object matches the desired hash.
func (a applier) remember(live client.Object, want string) {
	if a.memo == nil {
		return
	}
	observed, err := ObservedHash(live)
	if err == nil {
		a.memo.put(live.GetUID(), memoEntry{desired: want, observed: observed})
	}
}

// applyConcurrency bounds the children applied at once by one reconcile.
const applyConcurrency = 8

// applyOwned sets owner as the controller of each child and adds labels,
// then applies the children concurrently, writing only what differs.
func (a applier) applyOwned(ctx context.Context, owner client.Object, labels map[string]string, objs ...client.Object) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(applyConcurrency)
	for _, obj := range objs {
		// A fresh map: desired objects may share their labels map, and the
		// previous child is being applied concurrently.
		l := make(map[string]string, len(obj.GetLabels())+len(labels))
		maps.Copy(l, obj.GetLabels())
		maps.Copy(l, labels)
		obj.SetLabels(l)
		if err := controllerutil.SetControllerReference(owner, obj, a.scheme); err != nil {
			return err
		}
		g.Go(func() error {
			wrote, err := a.apply(ctx, obj)
			if wrote {
				log.FromContext(ctx).V(1).Info("applied", "kind", fmt.Sprintf("%T", obj), "name", obj.GetName())
			}
			return err
		})
	}
	return g.Wait()
}

// containsDesired reports whether every value that desired sets is present
// and equal in current. Maps are compared key by key; lists element by
// element and must have the same length (a list is owned whole); empty values
// in desired match absent ones in current. Status and server-set metadata are
// not compared.
func containsDesired(desired, current client.Object) (bool, error) {
	d, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return false, err
	}
	c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
	if err != nil {
		return false, err
	}
	delete(d, "status")
	delete(d, "apiVersion")
	delete(d, "kind")
	if md, ok := d["metadata"].(map[string]any); ok {
		for _, k := range []string{"creationTimestamp", "resourceVersion", "uid", "generation", "managedFields"} {
			delete(md, k)
		}
	}
	return subset(d, c), nil
}

func subset(desired, current any) bool {
	if isEmpty(desired) {
		return true
	}
	switch dv := desired.(type) {
	case map[string]any:
		cv, ok := current.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range dv {
			if isEmpty(v) {
				continue
			}
			if !subset(v, cv[k]) {
				return false
			}
		}
		return true
	case []any:
		cv, ok := current.([]any)
		if !ok || len(cv) != len(dv) {
			return false
		}
		for i := range dv {
			if !subset(dv[i], cv[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(desired, current)
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	}
	return false
}

// patchStatusIfChanged writes obj's status, as a merge patch against
// original, only when the status changed: a reconcile that changes nothing
// writes nothing. An object deleted meanwhile is no error.
func patchStatusIfChanged(ctx context.Context, c client.Client, original, obj client.Object, before, after any) error {
	if equality.Semantic.DeepEqual(before, after) {
		return nil
	}
	return client.IgnoreNotFound(c.Status().Patch(ctx, obj, client.MergeFrom(original)))
}
