package controllers

import (
	"context"
	"fmt"
	"maps"
	"reflect"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
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
// A child the cache has never seen is created with a plain create: the API
// server decodes it as protobuf and skips the merge an apply would do, which
// is most of its work when a Tenant is provisioned. The create records its
// fields under the operator's field owner as an Update; before the first
// apply to such an object that ownership is moved to the operator's apply
// entry (see upgradeOwnership), so later applies remove what desired no
// longer sets, exactly as if the object had been created by an apply.
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
	key := client.ObjectKeyFromObject(desired)
	err = reader.Get(ctx, key, current)
	switch {
	case apierrors.IsNotFound(err):
		created, err := a.create(ctx, gvk, desired, want)
		if err != nil || created {
			return created, err
		}
		// It exists after all (the cache had not seen it yet): compare
		// against the whole object.
		if err := a.reader.Get(ctx, key, current); err != nil {
			return false, err
		}
	case err != nil:
		return false, err
	default:
		observed := ObservedHashOf(current)
		if m, ok := a.memo.get(current.GetUID()); ok && observed != "" && m.desired == want && m.observed == observed {
			return false, nil
		}
		if observed != "" {
			// A slim cached copy: compare against the whole object.
			if err := a.reader.Get(ctx, key, current); err != nil {
				return false, client.IgnoreNotFound(err)
			}
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
	if err := a.upgradeOwnership(ctx, gvk, current); err != nil {
		return false, fmt.Errorf("taking over the fields of %s %s: %w", gvk.Kind, key, err)
	}
	forWrite(desired, gvk)
	if err := a.Patch(ctx, desired, client.Apply, fieldOwner, client.ForceOwnership); err != nil {
		return false, fmt.Errorf("applying %s %s: %w", gvk.Kind, key, err)
	}
	// desired now holds the object as the server returned it.
	a.remember(desired, want)
	return true, nil
}

// create creates desired; it reports false without error when the object
// already exists.
func (a applier) create(ctx context.Context, gvk schema.GroupVersionKind, desired client.Object, want string) (bool, error) {
	forWrite(desired, gvk)
	err := a.Create(ctx, desired, fieldOwner)
	switch {
	case err == nil:
		// desired now holds the object as the server returned it.
		a.remember(desired, want)
		return true, nil
	case apierrors.IsAlreadyExists(err):
		return false, nil
	default:
		return false, fmt.Errorf("creating %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(desired), err)
	}
}

// forWrite readies desired to be sent as a whole: its kind set, and no
// managed fields or resourceVersion that would make the write conditional.
func forWrite(desired client.Object, gvk schema.GroupVersionKind) {
	desired.GetObjectKind().SetGroupVersionKind(gvk)
	desired.SetManagedFields(nil)
	desired.SetResourceVersion("")
}

// upgradeOwnership moves the fields that the operator's creates and updates
// own (managed-fields entries of operation Update) into its apply entry, as
// kubectl does when it moves an object from client-side to server-side apply
// (k8s.io/client-go/util/csaupgrade). Without it an apply could never remove
// a field the create set, such as a stale owner reference. The patch carries
// the resourceVersion it was computed from, so a concurrent change makes it
// fail with a conflict and the reconcile retries.
func (a applier) upgradeOwnership(ctx context.Context, gvk schema.GroupVersionKind, current client.Object) error {
	if len(current.GetManagedFields()) == 0 {
		// A cached copy: the cache strips managed fields.
		if err := a.reader.Get(ctx, client.ObjectKeyFromObject(current), current); err != nil {
			return client.IgnoreNotFound(err)
		}
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(current, sets.New(string(fieldOwner)), string(fieldOwner))
	if err != nil || patch == nil {
		return err
	}
	current.GetObjectKind().SetGroupVersionKind(gvk)
	return a.Patch(ctx, current, client.RawPatch(types.JSONPatchType, patch))
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
// then applies the children, writing only what differs. Children of one
// stage are applied concurrently, the stages in order (see applyStage):
// a RoleBinding only once the Role it grants exists -- the API server
// refuses to bind a Role it cannot see unless the operator may bind any
// role, which it may not -- and workloads only once their ServiceAccount
// and its permissions exist.
func (a applier) applyOwned(ctx context.Context, owner client.Object, labels map[string]string, objs ...client.Object) error {
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
	}
	for stage := range applyStages {
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(applyConcurrency)
		for _, obj := range objs {
			if applyStage(obj) != stage {
				continue
			}
			g.Go(func() error {
				wrote, err := a.apply(ctx, obj)
				if wrote {
					log.FromContext(ctx).V(1).Info("applied", "kind", fmt.Sprintf("%T", obj), "name", obj.GetName())
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// applyStages is the number of stages of applyStage.
const applyStages = 3

// applyStage orders children: first what nothing else here refers to
// (ServiceAccounts, Roles, Services, ...), then RoleBindings, then the
// workloads whose pods run as those ServiceAccounts.
func applyStage(obj client.Object) int {
	switch obj.(type) {
	case *rbacv1.RoleBinding:
		return 1
	case *batchv1.Job, *batchv1.CronJob, *appsv1.Deployment, *appsv1.StatefulSet:
		return 2
	default:
		return 0
	}
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
