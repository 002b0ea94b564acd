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
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/localnode"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
)

type applier struct{ c client.Client }

func newApplier(cfg *rest.Config) (*applier, error) {
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	return &applier{c: c}, err
}

// sampleSet is every object of config/samples, in apply order: namespaces
// and Secrets first, then the Tenant, then the objects that act in its
// namespace.
type sampleSet []*unstructured.Unstructured

func loadSamples(dir string) (sampleSet, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var objs sampleSet
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(u.Object) > 0 {
				objs = append(objs, u)
			}
		}
	}
	sort.SliceStable(objs, func(i, j int) bool { return rank(objs[i]) < rank(objs[j]) })
	return objs, nil
}

var kindOrder = map[string]int{"Namespace": 0, "Secret": 1, "ConfigMap": 1, "Tenant": 2, "PolicyUpdate": 3, "Broadcast": 4, "ErasureRequest": 5}

func rank(u *unstructured.Unstructured) int {
	if r, ok := kindOrder[u.GetKind()]; ok {
		return r
	}
	return 1
}

// split returns the Tenant with what it needs, and the rest.
func (s sampleSet) split() (first, rest sampleSet) {
	for _, u := range s {
		if rank(u) <= kindOrder["Tenant"] {
			first = append(first, u)
		} else {
			rest = append(rest, u)
		}
	}
	return first, rest
}

// find returns the first sample of the kind (and name, when not empty).
func (s sampleSet) find(kind, namespace, name string) *unstructured.Unstructured {
	for _, u := range s {
		if u.GetKind() == kind && u.GetNamespace() == namespace && (name == "" || u.GetName() == name) {
			return u
		}
	}
	return nil
}

func (s sampleSet) ofKind(kind string) sampleSet {
	var out sampleSet
	for _, u := range s {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// apply applies the objects with server-side apply, each namespaced one once
// its namespace exists.
func (a *applier) apply(ctx context.Context, out *screen, objs sampleSet) error {
	for _, u := range objs {
		if ns := u.GetNamespace(); ns != "" {
			if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				return a.c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}) == nil, nil
			}); err != nil {
				return fmt.Errorf("namespace %s did not appear: %w", ns, err)
			}
		}
		obj := u.DeepCopy()
		if err := a.c.Patch(ctx, obj, client.Apply, client.FieldOwner("make-run"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		out.println(fmt.Sprintf("   applied %s %s", strings.ToLower(u.GetKind()), name(u.GetNamespace(), u.GetName())))
	}
	return nil
}

// runningJobs lists the Jobs whose process still runs on the local node.
func (a *applier) runningJobs(ctx context.Context, node *localnode.Node) ([]string, error) {
	var jobs batchv1.JobList
	if err := a.c.List(ctx, &jobs, client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}); err != nil {
		return nil, err
	}
	var running []string
	for i := range jobs.Items {
		if node.Running(&jobs.Items[i]) {
			running = append(running, name(jobs.Items[i].Namespace, jobs.Items[i].Name))
		}
	}
	return running, nil
}

func name(ns, n string) string {
	if ns == "" {
		return n
	}
	return ns + "/" + n
}
