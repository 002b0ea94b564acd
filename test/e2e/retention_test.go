package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
)

var _ = Describe("the retention CronJob", func() {
	It("deletes exactly the security-log rows past retention and reports it on the Tenant", func() {
		s := seeder()
		uid, err := s.AddUser(ctx, fixtures.User{Email: "logged@customers.example", NotifyEmail: false})
		Expect(err).NotTo(HaveOccurred())
		now := time.Now()
		// The tenant keeps security logs for the default 720h.
		for _, age := range []time.Duration{800 * time.Hour, 750 * time.Hour, 700 * time.Hour, time.Hour} {
			Expect(s.AddSecurityLog(ctx, uid, "203.0.113.7", "login", now.Add(-age))).To(Succeed())
		}
		count := func() int {
			var n int
			Expect(db.QueryRowContext(ctx, `SELECT count(*) FROM security_log WHERE user_id = $1`, uid).Scan(&n)).To(Succeed())
			return n
		}
		Expect(count()).To(Equal(4))

		By("running a Job from the CronJob, as its schedule (or kubectl create job --from) would")
		cron := &batchv1.CronJob{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: "inboxchat-prune"}, cron)).To(Succeed())
		Expect(cron.Spec.Schedule).NotTo(BeEmpty())
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "inboxchat-prune-manual", Namespace: tenantNS, Labels: cron.Spec.JobTemplate.Labels},
			Spec:       cron.Spec.JobTemplate.Spec,
		}
		Expect(k8s.Create(ctx, job)).To(Succeed())
		Eventually(func() int32 {
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
			return job.Status.Succeeded
		}).Should(Equal(int32(1)))
		Expect(count()).To(Equal(2), "rows older than 720h go, younger rows stay")

		tn := &v1alpha1.Tenant{}
		Eventually(func() *v1alpha1.RetentionStatus {
			// The report lands on the Tenant at its next reconcile.
			Expect(k8s.Get(ctx, client.ObjectKey{Name: tenantName}, tn)).To(Succeed())
			if tn.Status.Retention == nil {
				patch := client.MergeFrom(tn.DeepCopy())
				tn.Annotations = map[string]string{"test.inboxchat.io/nudge": time.Now().String()}
				Expect(k8s.Patch(ctx, tn, patch)).To(Succeed())
			}
			return tn.Status.Retention
		}).ShouldNot(BeNil())
		Expect(tn.Status.Retention.SecurityLogsPruned).To(BeNumerically(">=", 2))
		Expect(tn.Status.Retention.LastPruneAt).NotTo(BeNil())
	})
})
