package e2e

import (
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

var _ = Describe("offboarding a tenant with policy Erase", func() {
	It("erases its external stores through the data map, writes a receipt that outlives it, and deletes its namespace", func() {
		const name, ns = "leaving", "tenant-leaving"
		offDB, err := schema.Open(schema.Postgres, offDSN)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(offDB.Close)
		_, err = schema.Apply(ctx, offDB, schema.Postgres)
		Expect(err).NotTo(HaveOccurred())
		opt, err := redis.ParseURL(offRedisURL)
		Expect(err).NotTo(HaveOccurred())
		rdb := redis.NewClient(opt)
		DeferCleanup(rdb.Close)

		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{v1alpha1.LabelTenant: name}}})).To(Succeed())
		for sname, data := range map[string]map[string]string{"database": {"dsn": offDSN}, "sessions": {"url": offRedisURL}} {
			Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: sname, Namespace: ns}, StringData: data})).To(Succeed())
		}
		tn := &v1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.TenantSpec{
				App: v1alpha1.AppSpec{Image: "ghcr.io/inboxchat/app:1", Host: "leaving.chat.example"},
				Stores: v1alpha1.StoresSpec{
					Database: v1alpha1.DatabaseStore{External: &v1alpha1.ExternalDatabase{Engine: v1alpha1.DatabaseEnginePostgres, SecretRef: v1alpha1.SecretReference{Name: "database"}}},
					Sessions: &v1alpha1.SessionStore{External: &v1alpha1.ExternalSessions{SecretRef: v1alpha1.SecretReference{Name: "sessions"}}},
				},
			},
		}
		Expect(k8s.Create(ctx, tn)).To(Succeed())
		Eventually(func() bool {
			Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, tn)).To(Succeed())
			for _, c := range tn.Status.Conditions {
				if c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
					return true
				}
			}
			return false
		}).Should(BeTrue())

		By("seeding the leaving tenant's data with its own keys")
		kr := func() *crypto.Keyring {
			s := &corev1.Secret{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inboxchat-keyring"}, s)).To(Succeed())
			k, err := crypto.KeyringFromSecretData(s.Data)
			Expect(err).NotTo(HaveOccurred())
			return k
		}()
		app := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inboxchat-app"}, app)).To(Succeed())
		seed := &fixtures.Seeder{DB: offDB, Engine: schema.Postgres, Keyring: kr, BlindIndexKey: app.Data["blind-index-key"]}
		for i := 0; i < 5; i++ {
			id, err := seed.AddLead(ctx, fixtures.Lead{PageID: pageID, PSID: "leaving-" + string(rune('a'+i)), OptedIn: true, Tags: []string{"x"}})
			Expect(err).NotTo(HaveOccurred())
			Expect(seed.AddMessage(ctx, id, "inbound", "hello")).To(Succeed())
		}
		uid, err := seed.AddUser(ctx, fixtures.User{Email: "boss@leaving.example", NotifyEmail: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(rdb.Set(ctx, "sess:leaving-1", "s", time.Hour).Err()).To(Succeed())
		Expect(rdb.SAdd(ctx, "user_sessions:"+itoa(uid), "leaving-1").Err()).To(Succeed())

		By("deleting it: nothing happens until the erasure is confirmed")
		Expect(k8s.Delete(ctx, tn)).To(Succeed())
		Eventually(func() string {
			Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, tn)).To(Succeed())
			for _, c := range tn.Status.Conditions {
				if c.Type == v1alpha1.ConditionStalled {
					return c.Reason
				}
			}
			return ""
		}).Should(Equal("ErasureNotConfirmed"))
		Expect(count(offDB, "leads")).To(Equal(5))

		By("confirming")
		patch := client.MergeFrom(tn.DeepCopy())
		tn.Annotations = map[string]string{v1alpha1.AnnotationConfirmErase: name}
		Expect(k8s.Patch(ctx, tn, patch)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.Tenant{}))
		}, 2*time.Minute).Should(BeTrue())

		for _, table := range []string{"leads", "lead_tags", "messages", "users"} {
			Expect(count(offDB, table)).To(BeZero(), "table %s", table)
		}
		Expect(rdb.Exists(ctx, "sess:leaving-1", "user_sessions:"+itoa(uid)).Val()).To(BeZero())

		receipts := &corev1.ConfigMapList{}
		Expect(k8s.List(ctx, receipts, client.InNamespace("inboxchat-system"), client.MatchingLabels{v1alpha1.LabelTenant: name})).To(Succeed())
		Expect(receipts.Items).To(HaveLen(1))
		rec := receipts.Items[0].Data
		Expect(rec["receipt"]).To(Equal(crypto.NextReceipt("", []byte(rec["payload"]))))
		var payload map[string]any
		Expect(json.Unmarshal([]byte(rec["payload"]), &payload)).To(Succeed())
		Expect(payload).To(HaveKeyWithValue("policy", "Erase"))
		Expect(rec["payload"]).NotTo(ContainSubstring("leaving-a"))
		Expect(rec["payload"]).NotTo(ContainSubstring("boss@leaving.example"))

		nsObj := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		Expect(nsObj.DeletionTimestamp).NotTo(BeNil())
	})
})

func count(db *sql.DB, table string) int {
	GinkgoHelper()
	var n int
	Expect(db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)).To(Succeed())
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
