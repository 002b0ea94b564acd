package operator

import (
	"fmt"
	"runtime"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/inboxchat/inboxchat-operator/controllers"
)

// tenantChildren are a tenant's children in their protobuf encoding, as an
// informer receives them.
func tenantChildren(tb testing.TB, tenant int) [][]byte {
	ns := fmt.Sprintf("tenant-bench-%04d", tenant)
	owner := []metav1.OwnerReference{{APIVersion: "inboxchat.io/v1alpha1", Kind: "Tenant", Name: fmt.Sprintf("bench-%04d", tenant),
		UID: types.UID(fmt.Sprintf("9b2d5c3e-0000-4000-8000-%012d", tenant)), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(fmt.Sprintf("1c0ffee0-%04d-4000-8000-%012d", tenant, len(name))),
			ResourceVersion: "123456", Labels: map[string]string{"app.kubernetes.io/managed-by": "inboxchat-operator", "inboxchat.io/tenant": owner[0].Name},
			OwnerReferences: owner}
	}
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: meta("inboxchat-app"), Data: map[string][]byte{"session-key": make([]byte, 44)}},
		&corev1.ServiceAccount{ObjectMeta: meta("inboxchat-app"), AutomountServiceAccountToken: ptr.To(false)},
		&rbacv1.Role{ObjectMeta: meta("inboxchat-prune"), Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "update"}}}},
		&networkingv1.NetworkPolicy{ObjectMeta: meta("inboxchat-default-deny"), Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"}}},
		&corev1.Service{ObjectMeta: meta("inboxchat-app"), Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}, ClusterIP: "10.96.0.10"}},
		&appsv1.Deployment{ObjectMeta: meta("inboxchat-app"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/inboxchat/app:1"}}}}},
			Status: appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}},
	}
	encoded := make([][]byte, len(objs))
	for i, o := range objs {
		gvk, err := apiutil.GVKForObject(o, Scheme())
		if err != nil {
			tb.Fatal(err)
		}
		o.GetObjectKind().SetGroupVersionKind(gvk)
		data, err := kruntime.Encode(codec, o)
		if err != nil {
			tb.Fatal(err)
		}
		encoded[i] = data
	}
	return encoded
}

var codec = protobuf.NewSerializer(Scheme(), Scheme())

// decode decodes an object as an informer would: no two decoded objects
// share memory.
func decode(tb testing.TB, data []byte) client.Object {
	obj, err := kruntime.Decode(codec, data)
	if err != nil {
		tb.Fatal(err)
	}
	return obj.(client.Object)
}

// The slim copy keeps what the controllers read from the cache.
func TestSlimObjectKeepsWhatTheControllersRead(t *testing.T) {
	for _, data := range tenantChildren(t, 1) {
		o := decode(t, data)
		out, err := slimObject(o)
		if err != nil {
			t.Fatal(err)
		}
		s := out.(client.Object)
		want, _ := controllers.ObservedHash(o)
		if got := controllers.ObservedHashOf(s); got != want || got == "" {
			t.Errorf("%T: observed hash %q, want %q", o, got, want)
		}
		if s.GetName() != o.GetName() || s.GetNamespace() != o.GetNamespace() || s.GetUID() != o.GetUID() ||
			s.GetResourceVersion() != o.GetResourceVersion() || !metav1.IsControlledBy(s, &metav1.ObjectMeta{UID: o.GetOwnerReferences()[0].UID}) {
			t.Errorf("%T: metadata lost: %+v", o, s)
		}
		if d, ok := s.(*appsv1.Deployment); ok && (d.Status.AvailableReplicas != 2 || *d.Spec.Replicas != 2) {
			t.Errorf("a Deployment's status and replicas must stay: %+v", d)
		}
		if sec, ok := s.(*corev1.Secret); ok && len(sec.Data) != 0 {
			t.Error("a Secret's data must not be cached")
		}
	}
}

// BenchmarkSlimCacheMemory reports the heap that the cache's slim copies of
// 1,000 tenants' children (6 kinds each) keep alive, per object: the copy
// and whatever of the decoded object it still points to.
func BenchmarkSlimCacheMemory(b *testing.B) {
	const tenants = 1000
	encoded := make([][][]byte, tenants)
	for i := range encoded {
		encoded[i] = tenantChildren(b, i)
	}
	b.ResetTimer()
	var perObject float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		kept := make([]any, 0, tenants*len(encoded[0]))
		for _, objs := range encoded {
			for _, data := range objs {
				s, err := slimObject(decode(b, data))
				if err != nil {
					b.Fatal(err)
				}
				kept = append(kept, s)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perObject = float64(after.HeapAlloc-before.HeapAlloc-uint64(cap(kept)*16)) / float64(len(kept))
		runtime.KeepAlive(kept)
	}
	b.ReportMetric(perObject, "B/object")
}
