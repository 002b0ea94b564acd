package controllers

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// applier writes desired children with server-side apply under one field
// owner, and only when the live object differs from what is desired, so a
// reconcile that finds everything in place makes no write at all.
type applier struct {
	client.Client
	// reader reads unstructured objects (other projects' kinds) that the
	// cache does not hold.
	reader client.Reader
	scheme *runtime.Scheme
}

// apply makes the live object match desired. It reads the live object from
// the cache; when every field that desired sets already holds the desired
// value (fields the API server defaulted or others own are ignored), it
// writes nothing. Otherwise it applies desired, which also repairs drift:
// fields changed by hand go back, fields removed by hand come back.
// It reports whether it wrote.
func (a applier) apply(ctx context.Context, desired client.Object) (bool, error) {
	gvk, err := apiutil.GVKForObject(desired, a.scheme)
	if err != nil {
		return false, err
	}
	var reader client.Reader = a.Client
	current, ok := reflect.New(reflect.TypeOf(desired).Elem()).Interface().(client.Object)
	if !ok {
		return false, fmt.Errorf("%s is not a client.Object", gvk.Kind)
	}
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
		same, err := containsDesired(desired, current)
		if err != nil {
			return false, err
		}
		if same {
			return false, nil
		}
	}
	desired.GetObjectKind().SetGroupVersionKind(gvk)
	desired.SetManagedFields(nil)
	desired.SetResourceVersion("")
	if err := a.Patch(ctx, desired, client.Apply, fieldOwner, client.ForceOwnership); err != nil {
		return false, fmt.Errorf("applying %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(desired), err)
	}
	return true, nil
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
