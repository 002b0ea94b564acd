package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/localnode"
)

// operatorRun is the operator process with the stand-in node that marks its
// workloads available.
type operatorRun struct {
	cmd  *exec.Cmd
	stop func()
}

func startOperator(ctx context.Context, cfg *rest.Config, bin, kubeconfig, metricsAddr, pprof string, qps, concurrency int) (*operatorRun, error) {
	op := exec.CommandContext(ctx, bin, "manager",
		"--metrics-bind-address="+metricsAddr, "--metrics-secure=false", "--health-probe-bind-address=0",
		"--operator-namespace=inboxchat-system", fmt.Sprintf("--kube-api-qps=%d", qps), fmt.Sprintf("--kube-api-burst=%d", 2*qps),
		fmt.Sprintf("--max-concurrent-reconciles=%d", concurrency), "--webhook-port=-1", "--zap-log-level=error", "--pprof-bind-address="+pprof)
	// GOMEMLIMIT as config/manager and the chart set it for the operator.
	op.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "GOMEMLIMIT="+*memLimit)
	op.Stderr = os.Stderr
	if err := op.Start(); err != nil {
		return nil, err
	}
	nodeCtx, stopNode := context.WithCancel(ctx)
	stop := sync.OnceFunc(func() { stopNode(); _ = op.Process.Kill(); _, _ = op.Process.Wait() })
	// The operator's own Jobs (managed databases' migrations) succeed at
	// once: the benchmark measures the control-plane work, not the workers.
	node := &localnode.Node{Config: rest.CopyConfig(cfg), Binary: "/bin/true", Root: fmt.Sprintf("%s/inboxchat-bench-node", os.TempDir())}
	if err := node.Start(nodeCtx); err != nil {
		stop()
		return nil, err
	}
	return &operatorRun{cmd: op, stop: stop}, nil
}

// template is what the operator made for one Tenant, as the API server holds
// it once the Tenant is Ready: the Tenant, its namespace and its children.
type template struct {
	tenant  *unstructured.Unstructured
	objects []*unstructured.Unstructured // creation order: namespace first, workloads last
}

// statusWrites counts the objects whose status the replay writes once.
func (t *template) statusWrites() int {
	n := 1 // the Tenant
	for _, o := range t.objects {
		if hasStatusWrite(o) {
			n++
		}
	}
	return n
}

// The kinds whose status the cluster (here the stand-in node) writes.
func hasStatusWrite(o *unstructured.Unstructured) bool {
	switch o.GroupVersionKind().Kind {
	case "Deployment", "StatefulSet", "Job":
		return true
	}
	return false
}

// childKinds are every kind the operator creates in a tenant namespace, in
// the order the replay creates them (RoleBindings after Roles, workloads
// last, as the operator does).
var childKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "ServiceAccount"}, {Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "ConfigMap"},
	{Version: "v1", Kind: "Service"}, {Version: "v1", Kind: "PersistentVolumeClaim"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, {Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"}, {Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "batch", Version: "v1", Kind: "CronJob"}, {Group: "batch", Version: "v1", Kind: "Job"},
}

// provisionTemplate has the operator provision one Tenant, reads back what it
// made, then stops the operator and removes the Tenant (its objects stay, as
// the floors' do: no garbage collector runs here).
func provisionTemplate(ctx context.Context, c client.Client, launch func(context.Context, string) (*operatorRun, error)) (*template, error) {
	run, err := launch(ctx, "")
	if err != nil {
		return nil, err
	}
	defer run.stop()
	tn := benchTenant(-1)
	tn.Name = "template"
	tn.Spec.App.Host = "template.chat.example"
	if err := c.Create(ctx, tn); err != nil {
		return nil, err
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(tn), tn)
		return err == nil && countReadyOf([]v1alpha1.Tenant{*tn}) == 1, err
	}); err != nil {
		return nil, fmt.Errorf("waiting for the template Tenant to be Ready: %w", err)
	}
	run.stop()

	tmpl := &template{tenant: &unstructured.Unstructured{}}
	tmpl.tenant.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Tenant"))
	if err := c.Get(ctx, client.ObjectKeyFromObject(tn), tmpl.tenant); err != nil {
		return nil, err
	}
	owned := func(o *unstructured.Unstructured) bool {
		for _, ref := range o.GetOwnerReferences() {
			if ref.UID == tn.UID {
				return true
			}
		}
		return false
	}
	ns := &unstructured.Unstructured{}
	ns.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	if err := c.Get(ctx, client.ObjectKey{Name: tn.NamespaceName()}, ns); err != nil {
		return nil, err
	}
	tmpl.objects = append(tmpl.objects, ns)
	for _, gvk := range childKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list, client.InNamespace(tn.NamespaceName())); err != nil {
			return nil, err
		}
		for i := range list.Items {
			if owned(&list.Items[i]) {
				tmpl.objects = append(tmpl.objects, &list.Items[i])
			}
		}
	}
	// Without the operator the finalizer stays: take it off so the Tenant
	// goes and the operator started later does not see it.
	if err := c.Patch(ctx, tn, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		return nil, err
	}
	return tmpl, c.Delete(ctx, tn)
}

// replay creates n copies of the template with unthrottled clients, kind by
// kind so that it can tell what each kind costs: the Tenants, their
// namespaces, their children (RoleBindings after Roles, workloads last, as
// the operator makes them), then one status write for each workload and each
// Tenant. That is fewer writes than the operator and the node make (no
// events, one status write where they make several): a floor for the Tenant
// run. The copies' Tenants are deleted afterwards, outside the measured time,
// so the operator started next does not provision them.
func replay(ctx context.Context, c client.Client, tmpl *template, n, workers int) (time.Duration, []kindCost, error) {
	name := func(i int) string { return fmt.Sprintf("replay-%04d", i) }
	uids := make([]types.UID, n)
	var costs []kindCost
	step := func(kind string, writes int, f func(i int) error) error {
		before := processCPU()
		took, err := parallel(n, workers, f)
		if err != nil {
			return err
		}
		after := processCPU()
		costs = append(costs, kindCost{kind: kind, writes: writes * n, took: took, apiserverCPU: after["kube-apiserver"] - before["kube-apiserver"]})
		return nil
	}
	start := time.Now()
	if err := step("Tenant", 1, func(i int) error {
		tenant := fresh(tmpl.tenant)
		tenant.SetName(name(i))
		if err := unstructured.SetNestedField(tenant.Object, name(i)+".chat.example", "spec", "app", "host"); err != nil {
			return err
		}
		if err := c.Create(ctx, tenant); err != nil {
			return fmt.Errorf("replaying Tenant %s: %w", name(i), err)
		}
		uids[i] = tenant.GetUID()
		return nil
	}); err != nil {
		return 0, nil, err
	}
	copyOf := func(o *unstructured.Unstructured, i int) *unstructured.Unstructured {
		obj := fresh(o)
		if obj.GetKind() == "Namespace" {
			obj.SetName("tenant-" + name(i))
		} else {
			obj.SetNamespace("tenant-" + name(i))
		}
		refs := obj.GetOwnerReferences()
		for j := range refs {
			refs[j].Name, refs[j].UID = name(i), uids[i]
		}
		obj.SetOwnerReferences(refs)
		return obj
	}
	// The template's objects are already in creation order; one step per
	// run of the same kind.
	for from := 0; from < len(tmpl.objects); {
		to := from
		for to < len(tmpl.objects) && tmpl.objects[to].GetKind() == tmpl.objects[from].GetKind() {
			to++
		}
		objs := tmpl.objects[from:to]
		if err := step(objs[0].GetKind(), len(objs), func(i int) error {
			for _, o := range objs {
				obj := copyOf(o, i)
				if err := c.Create(ctx, obj); err != nil {
					return fmt.Errorf("replaying %s %s: %w", obj.GetKind(), obj.GetName(), err)
				}
			}
			return nil
		}); err != nil {
			return 0, nil, err
		}
		from = to
	}
	var statuses []*unstructured.Unstructured
	for _, o := range tmpl.objects {
		if hasStatusWrite(o) {
			statuses = append(statuses, o)
		}
	}
	if err := step("status (workloads, Tenant)", len(statuses)+1, func(i int) error {
		for _, o := range append(statuses, tmpl.tenant) {
			obj := copyOf(o, i)
			if o == tmpl.tenant {
				obj.SetName(name(i))
				obj.SetNamespace("")
			}
			patch, err := json.Marshal(map[string]any{"status": o.Object["status"]})
			if err != nil {
				return err
			}
			if err := c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return fmt.Errorf("replaying the status of %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
		}
		return nil
	}); err != nil {
		return 0, nil, err
	}
	took := time.Since(start)
	_, err := parallel(n, workers, func(i int) error {
		return c.Delete(ctx, &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name(i)}})
	})
	if err != nil {
		return 0, nil, err
	}
	// The copies' Services go too, so that their ClusterIPs are free again:
	// the API server's IPAddress allocator walks every allocated address on
	// each allocation (for its metrics), so the Tenant run would otherwise
	// pay for the replay's addresses on top of its own.
	services := &corev1.ServiceList{}
	if err := c.List(ctx, services, client.MatchingLabels{v1alpha1.LabelManagedBy: replayManagedBy}); err != nil {
		return 0, nil, err
	}
	_, err = parallel(len(services.Items), workers, func(i int) error { return c.Delete(ctx, &services.Items[i]) })
	return took, costs, err
}

// replayManagedBy marks the replay's copies instead of the operator's label.
const replayManagedBy = "inboxchat-bench-replay"

// kindCost is what creating (or status-writing) one kind cost in the replay.
type kindCost struct {
	kind         string
	writes       int
	took         time.Duration
	apiserverCPU float64
}

func printKindCosts(costs []kindCost) {
	fmt.Println("replay floor by kind:")
	for _, k := range costs {
		fmt.Printf("  %-28s %6d writes %6.1f s  %5.2f ms wall/write  %5.2f ms API server CPU/write\n",
			k.kind, k.writes, k.took.Seconds(), float64(k.took.Microseconds())/1000/float64(k.writes), 1000*k.apiserverCPU/float64(k.writes))
	}
}

// fresh is a copy of a stored object as a client would first send it: no
// server-set metadata, no status, no allocated or generated fields.
func fresh(o *unstructured.Unstructured) *unstructured.Unstructured {
	obj := o.DeepCopy()
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink", "finalizers"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	delete(obj.Object, "status")
	// Out of the operator's and the node's label-selected caches, which
	// would otherwise hold the copies in the Tenant run that follows.
	if labels := obj.GetLabels(); labels[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue {
		labels[v1alpha1.LabelManagedBy] = replayManagedBy
		obj.SetLabels(labels)
	}
	switch obj.GetKind() {
	case "Service":
		if ip, _, _ := unstructured.NestedString(obj.Object, "spec", "clusterIP"); ip != "None" {
			unstructured.RemoveNestedField(obj.Object, "spec", "clusterIP")
			unstructured.RemoveNestedField(obj.Object, "spec", "clusterIPs")
		}
	case "Job":
		unstructured.RemoveNestedField(obj.Object, "spec", "selector")
		for _, l := range []string{"controller-uid", "batch.kubernetes.io/controller-uid"} {
			unstructured.RemoveNestedField(obj.Object, "spec", "template", "metadata", "labels", l)
		}
	}
	return obj
}
