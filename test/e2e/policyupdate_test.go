package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
)

func getPolicy(name string) *v1alpha1.PolicyUpdate {
	GinkgoHelper()
	pu := &v1alpha1.PolicyUpdate{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: name}, pu)).To(Succeed())
	return pu
}

func mailsTo(addr string) int {
	n := 0
	for _, m := range smtp.Messages() {
		for _, to := range m.To {
			if to == addr {
				n++
			}
		}
	}
	return n
}

var _ = Describe("a PolicyUpdate", Ordered, func() {
	var users []string
	BeforeAll(func() {
		s := seeder()
		for i := 0; i < 12; i++ {
			u := fixtures.User{Email: fmt.Sprintf("user%02d@customers.example", i), Name: fmt.Sprintf("User %d", i), NotifyEmail: true}
			if i < 3 {
				u.PolicyVersionAccepted = "2027-01"
			}
			_, err := s.AddUser(ctx, u)
			Expect(err).NotTo(HaveOccurred())
			users = append(users, u.Email)
		}
	})

	It("publishes the version for the app and e-mails every user exactly once", func() {
		pu := &v1alpha1.PolicyUpdate{
			ObjectMeta: metav1.ObjectMeta{Name: "privacy-2026-12", Namespace: tenantNS},
			Spec: v1alpha1.PolicyUpdateSpec{
				Version: "2026-12", EffectiveAt: metav1.NewTime(time.Now().Add(-time.Minute)),
				DocumentURL: "https://e2e.chat.example/privacy/2026-12", Summary: "Security logs are now kept 30 days.",
				Notify: v1alpha1.PolicyNotify{MessagesPerSecond: 50},
			},
		}
		Expect(k8s.Create(ctx, pu)).To(Succeed())
		Expect(lifecycle(pu, "PolicyUpdate", phaseIs(string(v1alpha1.PolicyPublished)))).To(inProgressThen(status.CurrentStatus),
			"kstatus: InProgress while it notifies, Current once published")
		got := getPolicy(pu.Name)
		// A policy change is a legal notice: it reaches every account, also
		// those that turned notification e-mails off (other specs add some).
		var accounts int64
		Expect(db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE deleted_at IS NULL`).Scan(&accounts)).To(Succeed())
		Expect(got.Status.Recipients).To(Equal(accounts))
		Expect(got.Status.Sent).To(Equal(accounts))
		Expect(got.Status.PublishedAt).NotTo(BeNil())
		for _, u := range users {
			Expect(mailsTo(u)).To(Equal(1), "user %s must be e-mailed exactly once", u)
		}
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: "inboxchat-policy"}, cm)).To(Succeed())
		Expect(cm.Data).To(HaveKeyWithValue("version", "2026-12"))
		Expect(cm.Data).To(HaveKeyWithValue("requireReacceptance", "false"))
		Expect(cm.Data).To(HaveKeyWithValue("documentURL", pu.Spec.DocumentURL))
		Eventually(func() int { return mailsTo(adminAddress) }).Should(BeNumerically(">=", 1), "the admins are told about the publication")
		noPersonalData(got, users...)
	})

	It("supersedes the previous version, requires re-acceptance, and refuses a duplicate version", func() {
		pu := &v1alpha1.PolicyUpdate{
			ObjectMeta: metav1.ObjectMeta{Name: "privacy-2027-01", Namespace: tenantNS},
			Spec: v1alpha1.PolicyUpdateSpec{
				Version: "2027-01", EffectiveAt: metav1.NewTime(time.Now()), DocumentURL: "https://e2e.chat.example/privacy/2027-01",
				RequireReacceptance: true, Summary: "You can now export your data yourself.",
			},
		}
		Expect(k8s.Create(ctx, pu)).To(Succeed())
		Eventually(func() v1alpha1.PolicyPhase { return getPolicy(pu.Name).Status.Phase }).Should(Equal(v1alpha1.PolicyPublished))
		Eventually(func() v1alpha1.PolicyPhase { return getPolicy("privacy-2026-12").Status.Phase }).Should(Equal(v1alpha1.PolicySuperseded))
		Expect(getPolicy("privacy-2026-12").Status.SupersededBy).To(Equal(pu.Name))
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: "inboxchat-policy"}, cm)).To(Succeed())
		Expect(cm.Data).To(HaveKeyWithValue("version", "2027-01"))
		Expect(cm.Data).To(HaveKeyWithValue("requireReacceptance", "true"))
		Expect(getPolicy(pu.Name).Status.Accepted).To(BeEquivalentTo(3), "three users had accepted 2027-01 already")

		dup := &v1alpha1.PolicyUpdate{
			ObjectMeta: metav1.ObjectMeta{Name: "privacy-2027-01-again", Namespace: tenantNS},
			Spec:       v1alpha1.PolicyUpdateSpec{Version: "2027-01", EffectiveAt: metav1.NewTime(time.Now()), DocumentURL: "https://e2e.chat.example/privacy/x", Summary: "Again."},
		}
		Expect(k8s.Create(ctx, dup)).To(Succeed())
		Expect(lifecycle(dup, "PolicyUpdate", stalledWith("DuplicateVersion"))).To(HaveExactElements(status.FailedStatus),
			"kstatus: Failed from the first verdict, never Current")
	})
})
