package controllers_test

import (
	"fmt"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

var tenantSeq atomic.Int64

// newTenant returns a minimal valid Tenant with a unique name.
func newTenant(prefix string) *v1alpha1.Tenant {
	name := fmt.Sprintf("%s-%d", prefix, tenantSeq.Add(1))
	return &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.TenantSpec{
			App: v1alpha1.AppSpec{Image: "ghcr.io/inboxchat/app:1", Host: name + ".chat.example"},
			Stores: v1alpha1.StoresSpec{Database: v1alpha1.DatabaseStore{
				Managed: &v1alpha1.ManagedDatabase{Engine: v1alpha1.DatabaseEnginePostgres},
			}},
		},
	}
}

// kstatusOf computes the kstatus verdict the way Flux and Argo CD do.
func kstatusOf(obj client.Object) status.Status {
	GinkgoHelper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

func getTenant(name string) *v1alpha1.Tenant {
	GinkgoHelper()
	t := &v1alpha1.Tenant{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, t)).To(Succeed())
	t.APIVersion, t.Kind = v1alpha1.GroupVersion.String(), "Tenant"
	return t
}

func readyCondition(t *v1alpha1.Tenant) *metav1.Condition {
	return meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionReady)
}

var _ = Describe("a Tenant's namespace", func() {
	It("is created restricted, labelled and owned by the Tenant", func() {
		tn := newTenant("ns")
		Expect(k8s.Create(ctx, tn)).To(Succeed())

		ns := &corev1.Namespace{}
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Name: "tenant-" + tn.Name}, ns) }).Should(Succeed())
		Expect(ns.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
		Expect(ns.Labels).To(HaveKeyWithValue(v1alpha1.LabelTenant, tn.Name))
		Expect(ns.OwnerReferences).To(ContainElement(HaveField("UID", tn.UID)))

		Eventually(func() metav1.ConditionStatus {
			return conditionStatus(getTenant(tn.Name), v1alpha1.ConditionNamespaceReady)
		}).Should(Equal(metav1.ConditionTrue))
		Expect(getTenant(tn.Name).Status.Namespace).To(Equal("tenant-" + tn.Name))
	})

	It("is adopted when it already exists with the tenant label", func() {
		tn := newTenant("adopt")
		pre := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   "tenant-" + tn.Name,
			Labels: map[string]string{v1alpha1.LabelTenant: tn.Name, "team": "payments"},
		}}
		Expect(k8s.Create(ctx, pre)).To(Succeed())
		Expect(k8s.Create(ctx, tn)).To(Succeed())

		Eventually(func() []metav1.OwnerReference {
			ns := &corev1.Namespace{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pre), ns)).To(Succeed())
			return ns.OwnerReferences
		}).Should(ContainElement(HaveField("UID", tn.UID)))
		ns := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pre), ns)).To(Succeed())
		Expect(ns.Labels).To(HaveKeyWithValue("team", "payments"), "adoption keeps the pipeline's own labels")
		Expect(ns.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	})

	It("is refused when a namespace of that name belongs to someone else, and the Tenant stalls", func() {
		tn := newTenant("clash")
		other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-" + tn.Name}}
		Expect(k8s.Create(ctx, other)).To(Succeed())
		Expect(k8s.Create(ctx, tn)).To(Succeed())

		Eventually(func() status.Status { return kstatusOf(getTenant(tn.Name)) }).Should(Equal(status.FailedStatus))
		got := getTenant(tn.Name)
		stalled := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionStalled)
		Expect(stalled).NotTo(BeNil())
		Expect(stalled.Reason).To(Equal("NamespaceConflict"))
		Expect(stalled.Message).To(ContainSubstring("inboxchat.io/tenant=" + tn.Name))
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))

		ns := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(other), ns)).To(Succeed())
		Expect(ns.OwnerReferences).To(BeEmpty(), "a foreign namespace must not be taken over")
		Expect(ns.Labels).NotTo(HaveKey("pod-security.kubernetes.io/enforce"))

		By("labelling the namespace, the Tenant recovers")
		ns.Labels = map[string]string{v1alpha1.LabelTenant: tn.Name}
		Expect(k8s.Update(ctx, ns)).To(Succeed())
		// The namespace is not the Tenant's child yet, so nudge the Tenant.
		patch := client.MergeFrom(got.DeepCopy())
		got.Annotations = map[string]string{"nudge": "1"}
		Expect(k8s.Patch(ctx, got, patch)).To(Succeed())
		Eventually(func() metav1.ConditionStatus {
			return conditionStatus(getTenant(tn.Name), v1alpha1.ConditionNamespaceReady)
		}).Should(Equal(metav1.ConditionTrue))
	})
})

func conditionStatus(obj interface{ GetConditions() []metav1.Condition }, typ string) metav1.ConditionStatus {
	c := meta.FindStatusCondition(obj.GetConditions(), typ)
	if c == nil {
		return ""
	}
	return c.Status
}
