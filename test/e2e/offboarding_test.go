package e2e

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/controllers"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/erasure"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
)

var _ = Describe("offboarding a tenant with policy Erase", func() {
	It("erases its external stores through the data map, writes a receipt that outlives it, and deletes its namespace", func() {
		const name, ns = "leaving", "tenant-leaving"
		offDB := openWithSchema(offDSN)
		opt, err := redis.ParseURL(offRedisURL)
		Expect(err).NotTo(HaveOccurred())
		rdb := redis.NewClient(opt)
		DeferCleanup(rdb.Close)

		tn, seed := readyExternalTenant(name, offDSN, offRedisURL, offDB)
		By("seeding the leaving tenant's data with its own keys")
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

var _ = Describe("offboarding a tenant with policy Erase and exportBeforeDelete", func() {
	It("exports every store first, erases them, keeps the export with its keyring in the namespace until it expires, then deletes the namespace", func() {
		const name, ns = "exporting", "tenant-exporting"
		const (
			email   = "owner@exporting-customer.example"
			psid    = "exporting-psid-7731"
			message = "please call me at 555-0199"
			upload  = "exporting customer's invoice"
			session = `{"user":"exporting"}`
		)
		personalData.add(email, psid, message, upload)
		dsn, rurl := storetest.Postgres(GinkgoTB()), storetest.Redis(GinkgoTB())
		xdb := openWithSchema(dsn)
		opt, err := redis.ParseURL(rurl)
		Expect(err).NotTo(HaveOccurred())
		rdb := redis.NewClient(opt)
		DeferCleanup(rdb.Close)

		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{v1alpha1.LabelTenant: name}}})).To(Succeed())
		for sname, data := range map[string]map[string]string{
			"database": {"dsn": dsn}, "sessions": {"url": rurl},
			"smtp": {"host": smtp.Host(), "port": fmt.Sprint(smtp.Port()), "from": "InboxChat <noreply@e2e.example>", "tls": "none"},
		} {
			Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: sname, Namespace: ns}, StringData: data})).To(Succeed())
		}
		tn := &v1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.TenantSpec{
				Admins: []v1alpha1.TenantAdmin{{Email: "admin@exporting.example", User: "exporting-admin"}},
				App:    v1alpha1.AppSpec{Image: "ghcr.io/inboxchat/app:1", Host: "exporting.chat.example"},
				Stores: v1alpha1.StoresSpec{
					Database: v1alpha1.DatabaseStore{External: &v1alpha1.ExternalDatabase{Engine: v1alpha1.DatabaseEnginePostgres, SecretRef: v1alpha1.SecretReference{Name: "database"}}},
					Sessions: &v1alpha1.SessionStore{External: &v1alpha1.ExternalSessions{SecretRef: v1alpha1.SecretReference{Name: "sessions"}}},
				},
				Notifications: v1alpha1.NotificationsSpec{SMTPSecretRef: &v1alpha1.SecretReference{Name: "smtp"}},
				Offboarding:   v1alpha1.OffboardingSpec{ExportBeforeDelete: true},
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

		By("seeding every store with the tenant's own keys")
		keyringSecret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inboxchat-keyring"}, keyringSecret)).To(Succeed())
		kr, err := crypto.KeyringFromSecretData(keyringSecret.Data)
		Expect(err).NotTo(HaveOccurred())
		app := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inboxchat-app"}, app)).To(Succeed())
		seed := &fixtures.Seeder{DB: xdb, Engine: schema.Postgres, Keyring: kr, BlindIndexKey: app.Data["blind-index-key"]}
		lead, err := seed.AddLead(ctx, fixtures.Lead{PageID: pageID, PSID: psid, OptedIn: true, Tags: []string{"vip"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(seed.AddMessage(ctx, lead, "inbound", message)).To(Succeed())
		user, err := seed.AddUser(ctx, fixtures.User{Email: email, NotifyEmail: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(rdb.Set(ctx, "sess:exporting-1", session, time.Hour).Err()).To(Succeed())
		Expect(rdb.SAdd(ctx, "user_sessions:"+itoa(user), "exporting-1").Err()).To(Succeed())
		files := node.ClaimDir(ns, "inboxchat-files")
		userDir := filepath.Join(files, "users", itoa(user))
		Expect(os.MkdirAll(userDir, 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(userDir, "invoice.txt"), []byte(upload), 0o644)).To(Succeed())

		By("deleting it with the erasure confirmed")
		patch := client.MergeFrom(tn.DeepCopy())
		tn.Annotations = map[string]string{v1alpha1.AnnotationConfirmErase: name}
		Expect(k8s.Patch(ctx, tn, patch)).To(Succeed())
		Expect(k8s.Delete(ctx, tn)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.Tenant{}))
		}, 2*time.Minute).Should(BeTrue(), "the Tenant was not offboarded")

		By("finding every store erased")
		for _, table := range []string{"leads", "lead_tags", "messages", "users"} {
			Expect(count(xdb, table)).To(BeZero(), "table %s", table)
		}
		Expect(rdb.Exists(ctx, "sess:exporting-1", "user_sessions:"+itoa(user)).Val()).To(BeZero())
		Expect(userDir).NotTo(BeADirectory())

		By("reading the receipt: it locates the export and holds no personal data")
		receipts := &corev1.ConfigMapList{}
		Expect(k8s.List(ctx, receipts, client.InNamespace("inboxchat-system"), client.MatchingLabels{v1alpha1.LabelTenant: name})).To(Succeed())
		Expect(receipts.Items).To(HaveLen(1))
		rec := receipts.Items[0].Data
		Expect(rec["receipt"]).To(Equal(crypto.NextReceipt("", []byte(rec["payload"]))))
		var payload struct {
			Policy string `json:"policy"`
			Export struct {
				Namespace, Claim, Location, SHA256, ExpiresAt string
			} `json:"export"`
			Stores []erasure.StoreResult `json:"stores"`
		}
		Expect(json.Unmarshal([]byte(rec["payload"]), &payload)).To(Succeed())
		Expect(payload.Policy).To(Equal("Erase"))
		Expect(payload.Export.Namespace).To(Equal(ns))
		Expect(payload.Export.Claim).To(Equal("inboxchat-files"))
		Expect(payload.Export.Location).To(Equal(erasure.TenantExportLocation(string(tn.UID))))
		Expect(payload.Export.SHA256).To(MatchRegexp("^[0-9a-f]{64}$"))
		expiresAt, err := time.Parse(time.RFC3339, payload.Export.ExpiresAt)
		Expect(err).NotTo(HaveOccurred())
		Expect(expiresAt).To(BeTemporally("~", time.Now().Add(v1alpha1.DefaultExports), time.Minute))
		Expect(payload.Stores).To(ContainElement(And(HaveField("Name", "exports"), HaveField("Retained", BeNumerically(">", 0)),
			HaveField("RetainedReason", HavePrefix("offboarding export, kept until ")))))
		for _, v := range []string{email, psid, message, upload} {
			Expect(rec["payload"]).NotTo(ContainSubstring(v))
		}

		By("opening the export with the kept keyring: the erased data is all in it")
		manifestRaw, err := os.ReadFile(filepath.Join(files, payload.Export.Location))
		Expect(err).NotTo(HaveOccurred())
		sum := sha256.Sum256(manifestRaw)
		Expect(hex.EncodeToString(sum[:])).To(Equal(payload.Export.SHA256))
		var manifest erasure.TenantManifest
		Expect(json.Unmarshal(manifestRaw, &manifest)).To(Succeed())
		Expect(manifest.Counts).To(HaveKeyWithValue("database/leads", int64(1)))
		Expect(manifest.Counts).To(HaveKeyWithValue("sessions/sessions", int64(1)))
		keptKeyring := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inboxchat-keyring"}, keptKeyring)).To(Succeed())
		kept, err := crypto.KeyringFromSecretData(keptKeyring.Data)
		Expect(err).NotTo(HaveOccurred())
		var plain strings.Builder
		for _, p := range manifest.Parts {
			sealed, err := os.ReadFile(filepath.Join(files, filepath.Dir(payload.Export.Location), p.Name))
			Expect(err).NotTo(HaveOccurred())
			b, err := kept.Open(sealed, erasure.TenantExportAssociatedData(string(tn.UID), p.Name))
			Expect(err).NotTo(HaveOccurred(), "opening part %s with the kept keyring", p.Name)
			plain.Write(b)
		}
		for _, v := range []string{email, psid, message, session} {
			Expect(plain.String()).To(ContainSubstring(strings.ReplaceAll(v, `"`, `\"`)), "the export lacks a record")
		}
		var uploads erasure.TenantPart
		for _, p := range manifest.Parts {
			if p.Collection == "user_uploads" {
				sealed, _ := os.ReadFile(filepath.Join(files, filepath.Dir(payload.Export.Location), p.Name))
				b, _ := kept.Open(sealed, erasure.TenantExportAssociatedData(string(tn.UID), p.Name))
				Expect(json.Unmarshal(b, &uploads)).To(Succeed())
			}
		}
		Expect(uploads.Files).To(ContainElement(And(HaveField("Path", "users/"+itoa(user)+"/invoice.txt"), HaveField("Content", []byte(upload)))))

		By("finding the namespace kept with only the files volume and the keyring, labelled with the expiry")
		nsObj := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		Expect(nsObj.DeletionTimestamp).To(BeNil())
		Expect(nsObj.Labels).To(HaveKeyWithValue(controllers.LabelExportExpiresAt, strconv.FormatInt(expiresAt.Unix(), 10)))
		Expect(nsObj.OwnerReferences).To(BeEmpty())
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inboxchat-files"}, &corev1.PersistentVolumeClaim{})).To(Succeed())
		secrets := &corev1.SecretList{}
		Expect(k8s.List(ctx, secrets, client.InNamespace(ns))).To(Succeed())
		Expect(secrets.Items).To(ConsistOf(HaveField("Name", "inboxchat-keyring")), "only the keyring Secret is kept")
		for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &batchv1.JobList{}, &batchv1.CronJobList{}, &corev1.ServiceList{},
			&corev1.ConfigMapList{}, &rbacv1.RoleList{}, &rbacv1.RoleBindingList{}, &corev1.ServiceAccountList{}} {
			Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			Expect(meta.LenList(list)).To(BeZero(), "%T in the kept namespace", list)
		}

		By("e-mailing the admins that the export is kept, and until when")
		Eventually(func() bool {
			for _, m := range smtp.Messages() {
				if strings.Contains(m.Subject, "InboxChat tenant "+name+" was offboarded") {
					Expect(m.Text).To(ContainSubstring("encrypted export is kept until"))
					Expect(m.Text).NotTo(ContainSubstring(email))
					return true
				}
			}
			return false
		}).Should(BeTrue(), "the admins got no offboarding e-mail")

		By("deleting the namespace once the export expires")
		// The e2e operator runs on the real clock; an expiry that has passed
		// stands for a clock past the retention.
		patch = client.MergeFrom(nsObj.DeepCopy())
		nsObj.Labels[controllers.LabelExportExpiresAt] = strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
		Expect(k8s.Patch(ctx, nsObj, patch)).To(Succeed())
		Eventually(func() bool {
			err := k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)
			return apierrors.IsNotFound(err) || (err == nil && nsObj.DeletionTimestamp != nil)
		}).Should(BeTrue(), "the namespace of an expired export was not deleted")
	})
})

var _ = Describe("offboarding a tenant with policy Erase while a legal hold is in force", func() {
	It("erases nothing and stalls, naming the holds, until they end", func() {
		const name, ns = "holding", "tenant-holding"
		dsn, rurl := storetest.Postgres(GinkgoTB()), storetest.Redis(GinkgoTB())
		hdb := openWithSchema(dsn)
		tn, seed := readyExternalTenant(name, dsn, rurl, hdb)
		for i := 0; i < 3; i++ {
			_, err := seed.AddLead(ctx, fixtures.Lead{PageID: pageID, PSID: fmt.Sprintf("holding-%d", i), OptedIn: true})
			Expect(err).NotTo(HaveOccurred())
		}
		_, err := hdb.ExecContext(ctx, "INSERT INTO legal_holds (subject_kind, subject_id, reason) VALUES ('Lead', 1, 'litigation')")
		Expect(err).NotTo(HaveOccurred())

		By("deleting it with the erasure confirmed")
		tn.Annotations = map[string]string{v1alpha1.AnnotationConfirmErase: name}
		Expect(k8s.Update(ctx, tn)).To(Succeed())
		Expect(k8s.Delete(ctx, tn)).To(Succeed())
		var stalled *metav1.Condition
		Eventually(func() string {
			Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, tn)).To(Succeed())
			if stalled = meta.FindStatusCondition(tn.Status.Conditions, v1alpha1.ConditionStalled); stalled != nil {
				return stalled.Reason
			}
			return ""
		}, 2*time.Minute).Should(Equal("LegalHoldsActive"))
		Expect(stalled.Message).To(ContainSubstring("1 legal hold(s) in force"))
		Expect(stalled.Message).To(ContainSubstring("exportBeforeDelete"))
		Expect(count(hdb, "leads")).To(Equal(3), "nothing may be erased while a hold is in force")
		job := &batchv1.Job{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inboxchat-offboard"}, job)).To(Succeed())
		Expect(job.Status.Failed).To(BeEquivalentTo(1), "a refusal is not retried: the worker's exit code fails the Job through its pod failure policy")
		Expect(job.Status.Conditions).To(ContainElement(And(HaveField("Type", batchv1.JobFailed), HaveField("Reason", batchv1.JobReasonPodFailurePolicy))))
		nsObj := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		Expect(nsObj.DeletionTimestamp).To(BeNil(), "the namespace, keyring and credentials stay for the retry")

		By("ending the hold and running the offboarding again")
		_, err = hdb.ExecContext(ctx, "UPDATE legal_holds SET held_until = now() - interval '1 minute'")
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Delete(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "inboxchat-offboard", Namespace: ns}},
			client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.Tenant{}))
		}, 2*time.Minute).Should(BeTrue())
		Expect(count(hdb, "leads")).To(BeZero())
		Expect(count(hdb, "legal_holds")).To(Equal(1), "the holds table is not the map's to erase")
	})
})

// readyExternalTenant makes a Tenant whose database and sessions are the
// external stores dsn and rurl, waits until it is Ready, and returns it with
// a seeder that writes to db with the tenant's own keys.
func readyExternalTenant(name, dsn, rurl string, db *sql.DB) (*v1alpha1.Tenant, *fixtures.Seeder) {
	GinkgoHelper()
	ns := "tenant-" + name
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{v1alpha1.LabelTenant: name}}})).To(Succeed())
	for sname, data := range map[string]map[string]string{"database": {"dsn": dsn}, "sessions": {"url": rurl}} {
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: sname, Namespace: ns}, StringData: data})).To(Succeed())
	}
	tn := &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.TenantSpec{
			App: v1alpha1.AppSpec{Image: "ghcr.io/inboxchat/app:1", Host: name + ".chat.example"},
			Stores: v1alpha1.StoresSpec{
				Database: v1alpha1.DatabaseStore{External: &v1alpha1.ExternalDatabase{Engine: v1alpha1.DatabaseEnginePostgres, SecretRef: v1alpha1.SecretReference{Name: "database"}}},
				Sessions: &v1alpha1.SessionStore{External: &v1alpha1.ExternalSessions{SecretRef: v1alpha1.SecretReference{Name: "sessions"}}},
			},
		},
	}
	Expect(k8s.Create(ctx, tn)).To(Succeed())
	Eventually(func() bool {
		Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, tn)).To(Succeed())
		return meta.IsStatusConditionTrue(tn.Status.Conditions, v1alpha1.ConditionReady)
	}).Should(BeTrue())
	s := &corev1.Secret{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inboxchat-keyring"}, s)).To(Succeed())
	kr, err := crypto.KeyringFromSecretData(s.Data)
	Expect(err).NotTo(HaveOccurred())
	app := &corev1.Secret{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "inboxchat-app"}, app)).To(Succeed())
	return tn, &fixtures.Seeder{DB: db, Engine: schema.Postgres, Keyring: kr, BlindIndexKey: app.Data["blind-index-key"]}
}

// openWithSchema opens a tenant's PostgreSQL database and applies the
// reference schema; the connection closes when the spec ends.
func openWithSchema(dsn string) *sql.DB {
	GinkgoHelper()
	db, err := schema.Open(schema.Postgres, dsn)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(db.Close)
	_, err = schema.Apply(ctx, db, schema.Postgres)
	Expect(err).NotTo(HaveOccurred())
	return db
}

func count(db *sql.DB, table string) int {
	GinkgoHelper()
	var n int
	Expect(db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)).To(Succeed())
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
