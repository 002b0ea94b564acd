package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// The admission webhook refuses a second Tenant for a host; these Tenants
// get in as they would while the webhook is down (this suite runs none).
var _ = Describe("Two Tenants asking for one host", func() {
	It("stalls the later one before it provisions anything, until the host is free", func() {
		first := newTenant("host")
		first.Spec.Offboarding.Policy = v1alpha1.OffboardingRetain
		Expect(k8s.Create(ctx, first)).To(Succeed())
		Eventually(func() int64 { return getTenant(first.Name).Status.ObservedGeneration }).Should(BeNumerically(">", 0))
		second := newTenant("host")
		second.Spec.App.Host = first.Spec.App.Host
		Expect(k8s.Create(ctx, second)).To(Succeed())

		Eventually(func() string { return condition(getTenant(second.Name), v1alpha1.ConditionStalled).Reason }).Should(Equal("HostConflict"))
		msg := condition(getTenant(second.Name), v1alpha1.ConditionStalled).Message
		Expect(msg).To(ContainSubstring("already served by Tenant " + first.Name))
		Expect(tenantStatus(second.Name)()).To(Equal(status.FailedStatus))
		err := k8s.Get(ctx, types.NamespacedName{Name: second.NamespaceName()}, &corev1.Namespace{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no namespace for the later Tenant")
		Expect(condition(getTenant(first.Name), v1alpha1.ConditionStalled).Reason).NotTo(Equal("HostConflict"))

		Expect(k8s.Delete(ctx, first)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(first), &v1alpha1.Tenant{}))
		}).Should(BeTrue())
		nudge(second.Name)
		Eventually(func() string { return condition(getTenant(second.Name), v1alpha1.ConditionStalled).Reason }).ShouldNot(Equal("HostConflict"))
		Eventually(func() error {
			return k8s.Get(ctx, types.NamespacedName{Name: second.NamespaceName()}, &corev1.Namespace{})
		}).Should(Succeed())
	})
})
