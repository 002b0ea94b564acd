package controllers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

func mustObservedHash(t *testing.T, obj client.Object) string {
	t.Helper()
	h, err := ObservedHash(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The hash moves with everything the operator sets and ignores what the
// server and the workloads' controllers maintain.
func TestObservedHashCoversContentNotStatus(t *testing.T) {
	tn := tenantWith(v1alpha1.DatabaseEnginePostgres, 2)
	base := desiredAppDeployment(tn)
	base.Labels = map[string]string{"a": "1", "b": "2"}
	base.OwnerReferences = []metav1.OwnerReference{{APIVersion: "inboxchat.io/v1alpha1", Kind: "Tenant", Name: "acme", UID: "u1", Controller: ptr.To(true)}}
	want := mustObservedHash(t, base)

	same := map[string]func(*appsv1.Deployment){
		"status":              func(d *appsv1.Deployment) { d.Status.ReadyReplicas, d.Status.ObservedGeneration = 2, 7 },
		"server metadata":     func(d *appsv1.Deployment) { d.ResourceVersion, d.Generation, d.UID = "42", 3, "x" },
		"managed fields":      func(d *appsv1.Deployment) { d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "m"}} },
		"a recorded hash":     func(d *appsv1.Deployment) { SetObservedHash(&d.ObjectMeta, "old") },
		"label order":         func(d *appsv1.Deployment) { d.Labels = map[string]string{"b": "2", "a": "1"} },
		"a type meta set":     func(d *appsv1.Deployment) { d.APIVersion, d.Kind = "apps/v1", "Deployment" },
		"a deep copy of base": func(d *appsv1.Deployment) {},
	}
	for name, change := range same {
		d := base.DeepCopy()
		change(d)
		if got := mustObservedHash(t, d); got != want {
			t.Errorf("%s changed the hash", name)
		}
	}
	differ := map[string]func(*appsv1.Deployment){
		"image":         func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "evil:latest" },
		"replicas":      func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(9)) },
		"a label":       func(d *appsv1.Deployment) { d.Labels["a"] = "changed" },
		"an annotation": func(d *appsv1.Deployment) { d.Annotations = map[string]string{"x": "y"} },
		"the owner":     func(d *appsv1.Deployment) { d.OwnerReferences[0].UID = "u2" },
		"no owner":      func(d *appsv1.Deployment) { d.OwnerReferences = nil },
		"security context": func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		},
	}
	seen := map[string]string{want: "base"}
	for name, change := range differ {
		d := base.DeepCopy()
		change(d)
		got := mustObservedHash(t, d)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s hashes like %s", name, prev)
		}
		seen[got] = name
	}
}

// Kinds without a spec hash their other top-level fields (a Secret's data
// and type), and objects of other projects their JSON content.
func TestObservedHashOfDataAndUnstructured(t *testing.T) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{"k": []byte("v1"), "j": []byte("w")}}
	h1 := mustObservedHash(t, s)
	s.Data["k"] = []byte("v2")
	if mustObservedHash(t, s) == h1 {
		t.Error("a Secret's data is not in its hash")
	}
	s2 := s.DeepCopy()
	s2.Type = corev1.SecretTypeTLS
	if mustObservedHash(t, s2) == mustObservedHash(t, s) {
		t.Error("a Secret's type is not in its hash")
	}

	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": "c", "resourceVersion": "1"},
		"spec":     map[string]any{"secretName": "tls", "dnsNames": []any{"a.example"}},
		"status":   map[string]any{"notAfter": "2027-01-01T00:00:00Z"},
	}}
	hu := mustObservedHash(t, u)
	u2 := u.DeepCopy()
	_ = unstructured.SetNestedField(u2.Object, "2028-01-01T00:00:00Z", "status", "notAfter")
	u2.SetResourceVersion("2")
	if mustObservedHash(t, u2) != hu {
		t.Error("an unstructured object's status or resourceVersion changed its hash")
	}
	_ = unstructured.SetNestedField(u2.Object, "other", "spec", "secretName")
	if mustObservedHash(t, u2) == hu {
		t.Error("an unstructured object's spec is not in its hash")
	}
}

// BenchmarkObservedHash is the cost the cache transform pays per watch
// event of a Deployment.
func BenchmarkObservedHash(b *testing.B) {
	d := desiredAppDeployment(tenantWith(v1alpha1.DatabaseEnginePostgres, 2))
	d.Labels = map[string]string{"app.kubernetes.io/managed-by": "inboxchat-operator", "inboxchat.io/tenant": "acme"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ObservedHash(d); err != nil {
			b.Fatal(err)
		}
	}
}

// The desired hash tells apart what the operator wants, whatever the kind.
func TestDesiredHashFollowsTheDesiredState(t *testing.T) {
	tn := tenantWith(v1alpha1.DatabaseEnginePostgres, 2)
	a, b := desiredAppDeployment(tn), desiredAppDeployment(tn)
	ha, err := desiredHash(a)
	if err != nil {
		t.Fatal(err)
	}
	if hb, _ := desiredHash(b); hb != ha {
		t.Fatal("the same desired state hashed differently")
	}
	b.Spec.Template.Spec.Containers[0].Image = "other:1"
	if hb, _ := desiredHash(b); hb == ha {
		t.Fatal("a different image hashed the same")
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "spec": map[string]any{"secretName": "a"}}}
	hu, err := desiredHash(u)
	if err != nil || hu == "" {
		t.Fatalf("an unstructured object: %q, %v", hu, err)
	}
}

// The memos forget what nothing looked at for two sweeps, and keep what
// is in use however old.
func TestUIDMemoForgetsWhatIsNotUsed(t *testing.T) {
	now := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	m := &uidMemo[string]{now: func() time.Time { return now }}
	m.put("used", "a")
	m.put("gone", "b")
	for range 5 {
		now = now.Add(memoSweep)
		if v, ok := m.get("used"); !ok || v != "a" {
			t.Fatalf("an entry in use was dropped after a sweep: %q %v", v, ok)
		}
	}
	if _, ok := m.get("gone"); ok {
		t.Fatal("an entry unused for five sweeps is still there")
	}
	if m.len() != 1 {
		t.Fatalf("%d entries, want 1", m.len())
	}
	m.put("new", "c")
	now = now.Add(memoSweep / 2)
	if _, ok := m.get("new"); !ok {
		t.Fatal("an entry was dropped before a sweep")
	}
}
