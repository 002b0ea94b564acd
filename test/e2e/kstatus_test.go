package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// lifecycle follows an object through its lifecycle the way Flux, Argo CD
// and `kubectl wait` see it: it polls the object every 20 ms until done
// says it reached its end, and returns the kstatus verdicts it went
// through, each change once. Observations before the operator wrote any
// status are left out: kstatus reads a custom resource without status as
// Current, and that moment is the API server's, not the operator's.
func lifecycle(obj client.Object, kind string, done func(u *unstructured.Unstructured) bool) []status.Status {
	GinkgoHelper()
	var seen []status.Status
	Eventually(func(g Gomega) bool {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), u)).To(Succeed())
		if conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions"); len(conds) > 0 {
			res, err := status.Compute(u)
			g.Expect(err).NotTo(HaveOccurred())
			if len(seen) == 0 || seen[len(seen)-1] != res.Status {
				seen = append(seen, res.Status)
			}
		}
		return done(u)
	}).WithTimeout(2 * time.Minute).WithPolling(20 * time.Millisecond).Should(BeTrue())
	return seen
}

// phaseIs is a done func: status.phase equals phase.
func phaseIs(phase string) func(u *unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		return p == phase
	}
}

// stalledWith is a done func: Stalled=True with the reason.
func stalledWith(reason string) func(u *unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == v1alpha1.ConditionStalled && m["status"] == "True" && m["reason"] == reason {
				return true
			}
		}
		return false
	}
}

// failedNeverCurrent says a lifecycle ended Failed and was never Current
// on the way (it may or may not show InProgress first: a problem the
// controller sees at once is Failed from the first verdict).
func failedNeverCurrent() OmegaMatcher {
	return And(
		WithTransform(func(s []status.Status) status.Status {
			if len(s) == 0 {
				return ""
			}
			return s[len(s)-1]
		}, Equal(status.FailedStatus)),
		Not(ContainElement(status.CurrentStatus)),
	)
}

// inProgressThen says a lifecycle went through InProgress only, then ended
// in the verdict.
func inProgressThen(end status.Status) OmegaMatcher {
	return HaveExactElements(status.InProgressStatus, end)
}

var _ = Describe("kstatus of an ErasureRequest that cannot start", func() {
	It("is Failed, with a reason that names the missing subject Secret, and never Current", func() {
		er := &v1alpha1.ErasureRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "adios-missing-secret", Namespace: tenantNS},
			Spec: v1alpha1.ErasureRequestSpec{Subject: v1alpha1.ErasureSubject{Kind: v1alpha1.SubjectUser,
				SecretRef: &v1alpha1.SecretReference{Name: "never-created"}}},
		}
		Expect(k8s.Create(ctx, er)).To(Succeed())
		Expect(lifecycle(er, "ErasureRequest", stalledWith("SubjectSecretInvalid"))).To(HaveExactElements(status.FailedStatus))
		Expect(getErasure(er.Name).Status.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("never-created"))))
		Expect(k8s.Delete(ctx, er)).To(Succeed())
	})
})
