package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
)

type applier struct{ c client.Client }

func newApplier(cfg *rest.Config) (*applier, error) {
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	return &applier{c: c}, err
}

// applySamples applies every sample with server-side apply: cluster-scoped
// objects first, then namespaced ones once their namespace exists (the
// Tenant creates it).
func (a *applier) applySamples(ctx context.Context, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if len(u.Object) > 0 {
				objs = append(objs, u)
			}
		}
	}
	order := map[string]int{"Namespace": 0, "Tenant": 1, "Secret": 0, "ConfigMap": 0, "PolicyUpdate": 2, "Broadcast": 3, "ErasureRequest": 4}
	rank := func(u *unstructured.Unstructured) int {
		if u.GetNamespace() == "" {
			return order[u.GetKind()]
		}
		return 10 + order[u.GetKind()]
	}
	sort.SliceStable(objs, func(i, j int) bool { return rank(objs[i]) < rank(objs[j]) })
	for _, u := range objs {
		if ns := u.GetNamespace(); ns != "" {
			if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				return a.c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}) == nil, nil
			}); err != nil {
				return fmt.Errorf("namespace %s did not appear: %w", ns, err)
			}
		}
		if err := a.c.Patch(ctx, u, client.Apply, client.FieldOwner("make-run"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		fmt.Printf("   applied %s %s\n", strings.ToLower(u.GetKind()), name(u.GetNamespace(), u.GetName()))
	}
	return nil
}

func name(ns, n string) string {
	if ns == "" {
		return n
	}
	return ns + "/" + n
}

// table renders the InboxChat objects like `kubectl get inboxchat` and says
// whether every one reached its end state.
func (a *applier) table(ctx context.Context) (string, bool, error) {
	var buf bytes.Buffer
	w := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tNAME\tSTATE\tDETAIL")
	done := true
	row := func(kind, nm, state, detail string, end bool) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", kind, nm, state, detail)
		done = done && end
	}
	var tenants v1alpha1.TenantList
	if err := a.c.List(ctx, &tenants); err != nil {
		return "", false, err
	}
	for _, t := range tenants.Items {
		state, detail := readyState(t.Status.Conditions)
		row("tenant", t.Name, state, detail, state == "Ready")
	}
	var pus v1alpha1.PolicyUpdateList
	if err := a.c.List(ctx, &pus); err != nil {
		return "", false, err
	}
	for _, p := range pus.Items {
		row("policyupdate", name(p.Namespace, p.Name), phase(string(p.Status.Phase)), fmt.Sprintf("sent %d/%d", p.Status.Sent, p.Status.Recipients),
			p.Status.Phase == v1alpha1.PolicyPublished || p.Status.Phase == v1alpha1.PolicySuperseded)
	}
	var bcs v1alpha1.BroadcastList
	if err := a.c.List(ctx, &bcs); err != nil {
		return "", false, err
	}
	for _, b := range bcs.Items {
		row("broadcast", name(b.Namespace, b.Name), phase(string(b.Status.Phase)), fmt.Sprintf("sent %d/%d", b.Status.Sent, b.Status.Audience),
			b.Status.Phase == v1alpha1.BroadcastSucceeded)
	}
	var ers v1alpha1.ErasureRequestList
	if err := a.c.List(ctx, &ers); err != nil {
		return "", false, err
	}
	for _, e := range ers.Items {
		row("erasurerequest", name(e.Namespace, e.Name), phase(string(e.Status.Phase)), e.Status.Receipt, e.Status.Phase == v1alpha1.ErasureCompleted)
	}
	w.Flush()
	return buf.String(), done, nil
}

func phase(p string) string {
	if p == "" {
		return "Pending"
	}
	return p
}

func readyState(conds []metav1.Condition) (string, string) {
	c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	switch {
	case c == nil:
		return "Pending", ""
	case c.Status == metav1.ConditionTrue:
		return "Ready", c.Message
	default:
		return "NotReady", c.Reason + ": " + c.Message
	}
}
