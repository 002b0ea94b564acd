package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

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
