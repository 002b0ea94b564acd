package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
)

func getErasure(name string) *v1alpha1.ErasureRequest {
	GinkgoHelper()
	er := &v1alpha1.ErasureRequest{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: name}, er)).To(Succeed())
	return er
}

func rowCount(q string, args ...any) int {
	GinkgoHelper()
	var n int
	Expect(db.QueryRowContext(ctx, q, args...).Scan(&n)).To(Succeed())
	return n
}

// filesRoot is the tenant's files volume as the local node keeps it.
func filesRoot() string { return node.ClaimDir(tenantNS, "inboxchat-files") }

var _ = Describe("an ErasureRequest (\"Adios\")", Ordered, func() {
	var rdb *redis.Client
	BeforeAll(func() {
		opt, err := redis.ParseURL(redisURL)
		Expect(err).NotTo(HaveOccurred())
		rdb = redis.NewClient(opt)
		DeferCleanup(rdb.Close)
	})

	It("erases a lead found through a Secret with its PSID, after an encrypted export, and proves it", func() {
		const psid = "7310042000000001" // PSIDs are digits; the controller checks the shape
		s := seeder()
		leadID, err := s.AddLead(ctx, fixtures.Lead{PageID: pageID, PSID: psid, FirstName: "Dora", LastName: "Exit", OptedIn: true, Tags: []string{"news", "vip"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(s.AddMessage(ctx, leadID, "inbound", "please forget me")).To(Succeed())
		Expect(s.AddMessage(ctx, leadID, "outbound", "we will")).To(Succeed())
		upload := filepath.Join(filesRoot(), "leads", fmt.Sprint(leadID), "photo.jpg")
		Expect(os.MkdirAll(filepath.Dir(upload), 0o700)).To(Succeed())
		Expect(os.WriteFile(upload, []byte("jpeg bytes"), 0o600)).To(Succeed())

		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "who-lead", Namespace: tenantNS}, StringData: map[string]string{"psid": psid}})).To(Succeed())
		er := &v1alpha1.ErasureRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "adios-lead", Namespace: tenantNS},
			Spec: v1alpha1.ErasureRequestSpec{Subject: v1alpha1.ErasureSubject{Kind: v1alpha1.SubjectLead, SecretRef: &v1alpha1.SecretReference{Name: "who-lead"}},
				Mode: v1alpha1.ErasureModeExportThenErase},
		}
		Expect(k8s.Create(ctx, er)).To(Succeed())
		Eventually(func() v1alpha1.ErasurePhase { return getErasure(er.Name).Status.Phase }, 2*time.Minute).Should(Equal(v1alpha1.ErasureCompleted),
			func() string { return fmt.Sprintf("%+v", getErasure(er.Name).Status) })

		got := getErasure(er.Name)
		Expect(got.Status.Deadline.Sub(got.CreationTimestamp.Time)).To(Equal(30 * 24 * time.Hour))
		Expect(got.Status.SubjectFingerprint).To(HavePrefix("hmac-sha256:"))
		Expect(got.Status.Stores).NotTo(BeEmpty())
		var erased int64
		for _, st := range got.Status.Stores {
			Expect(st.Remaining).To(BeZero(), "store %s", st.Name)
			erased += st.Erased
		}
		Expect(erased).To(BeNumerically(">=", 4), "the lead, its tags, messages and folder")
		Expect(rowCount(`SELECT count(*) FROM leads WHERE id = $1`, leadID)).To(BeZero())
		Expect(rowCount(`SELECT count(*) FROM messages WHERE lead_id = $1`, leadID)).To(BeZero())
		Expect(rowCount(`SELECT count(*) FROM lead_tags WHERE lead_id = $1`, leadID)).To(BeZero())
		Expect(upload).NotTo(BeAnExistingFile())

		By("the export decrypts with the tenant keyring and holds what was erased")
		Expect(got.Status.Export).NotTo(BeNil())
		sealed, err := os.ReadFile(filepath.Join(filesRoot(), got.Status.Export.Location))
		Expect(err).NotTo(HaveOccurred())
		plain, err := keyring().Open(sealed, []byte("inboxchat-export:"+string(got.UID)))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(plain)).To(ContainSubstring("please forget me"))
		Expect(string(plain)).To(ContainSubstring(psid))

		By("chaining the receipt to the tenant, deleting the subject Secret, telling the admins")
		Expect(got.Status.Receipt).To(HavePrefix("sha256:"))
		tn := &v1alpha1.Tenant{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: tenantName}, tn)).To(Succeed())
		Expect(tn.Status.LastReceipt).To(Equal(got.Status.Receipt))
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: "who-lead"}, &corev1.Secret{}))
		}).Should(BeTrue(), "the subject Secret must be deleted once done")
		Eventually(func() bool {
			for _, m := range smtp.Messages() {
				if strings.Contains(strings.ToLower(m.Subject), "erasure") && strings.Contains(m.Text, got.Status.Receipt) {
					Expect(m.Text).NotTo(ContainSubstring(psid))
					return true
				}
			}
			return false
		}).Should(BeTrue(), "the admins get an e-mail with the receipt and no personal data")
		noPersonalData(got, psid, "Dora", "Exit")
	})

	It("erases a user found by e-mail, destroys their sessions, and keeps the security log with its reason", func() {
		const email = "leaving@customers.example"
		s := seeder()
		uid, err := s.AddUser(ctx, fixtures.User{Email: email, Name: "Lee Ving", NotifyEmail: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(s.AddSecurityLog(ctx, uid, "198.51.100.4", "login", time.Now().Add(-time.Hour))).To(Succeed())
		for _, sid := range []string{"s1", "s2"} {
			Expect(rdb.Set(ctx, "sess:"+fmt.Sprint(uid)+sid, "session data", time.Hour).Err()).To(Succeed())
			Expect(rdb.SAdd(ctx, "user_sessions:"+fmt.Sprint(uid), fmt.Sprint(uid)+sid).Err()).To(Succeed())
		}
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "who-user", Namespace: tenantNS}, StringData: map[string]string{"email": "Leaving@Customers.example"}})).To(Succeed())
		er := &v1alpha1.ErasureRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "adios-user", Namespace: tenantNS},
			Spec:       v1alpha1.ErasureRequestSpec{Subject: v1alpha1.ErasureSubject{Kind: v1alpha1.SubjectUser, SecretRef: &v1alpha1.SecretReference{Name: "who-user"}}},
		}
		Expect(k8s.Create(ctx, er)).To(Succeed())
		Eventually(func() v1alpha1.ErasurePhase { return getErasure(er.Name).Status.Phase }, 2*time.Minute).Should(Equal(v1alpha1.ErasureCompleted),
			func() string { return fmt.Sprintf("%+v", getErasure(er.Name).Status) })
		got := getErasure(er.Name)
		Expect(rowCount(`SELECT count(*) FROM users WHERE id = $1`, uid)).To(BeZero())
		Expect(rdb.Exists(ctx, "sess:"+fmt.Sprint(uid)+"s1", "sess:"+fmt.Sprint(uid)+"s2", "user_sessions:"+fmt.Sprint(uid)).Val()).To(BeZero(), "sessions destroyed")
		var retained int64
		var reasons string
		for _, st := range got.Status.Stores {
			retained += st.Retained
			reasons += st.RetainedReason
			Expect(st.Remaining).To(BeZero())
		}
		Expect(retained).To(BeNumerically(">=", 1))
		Expect(reasons).To(ContainSubstring("security"))
		Expect(rowCount(`SELECT count(*) FROM security_log WHERE user_id = $1`, uid)).To(Equal(1), "kept for its retention period")
		Expect(got.Status.PreviousReceipt).NotTo(BeEmpty(), "chained to the lead's receipt")
		noPersonalData(got, email, "Lee Ving", "198.51.100.4")
	})

	It("completes with zero erased for a subject that does not exist, and a dry run changes nothing", func() {
		er := &v1alpha1.ErasureRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "adios-nobody", Namespace: tenantNS},
			Spec:       v1alpha1.ErasureRequestSpec{Subject: v1alpha1.ErasureSubject{Kind: v1alpha1.SubjectLead, ID: "987654321"}},
		}
		Expect(k8s.Create(ctx, er)).To(Succeed())
		Expect(lifecycle(er, "ErasureRequest", phaseIs(string(v1alpha1.ErasureCompleted)))).To(inProgressThen(status.CurrentStatus),
			"kstatus: InProgress while it erases, Current once completed")
		for _, st := range getErasure(er.Name).Status.Stores {
			Expect(st.Erased).To(BeZero())
		}

		leadID, err := seeder().AddLead(ctx, fixtures.Lead{PageID: pageID, PSID: "dry-run-psid", OptedIn: true})
		Expect(err).NotTo(HaveOccurred())
		dry := &v1alpha1.ErasureRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "adios-dry", Namespace: tenantNS},
			Spec:       v1alpha1.ErasureRequestSpec{Subject: v1alpha1.ErasureSubject{Kind: v1alpha1.SubjectLead, ID: fmt.Sprint(leadID)}, DryRun: true},
		}
		Expect(k8s.Create(ctx, dry)).To(Succeed())
		Eventually(func() v1alpha1.ErasurePhase { return getErasure(dry.Name).Status.Phase }, 2*time.Minute).Should(Equal(v1alpha1.ErasureCompleted))
		var would int64
		for _, st := range getErasure(dry.Name).Status.Stores {
			would += st.Erased
		}
		Expect(would).To(BeNumerically(">=", 1), "a dry run reports what it would erase")
		Expect(rowCount(`SELECT count(*) FROM leads WHERE id = $1`, leadID)).To(Equal(1), "a dry run erases nothing")
	})
})
