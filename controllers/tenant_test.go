package controllers_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
)

// in returns the key of a named object in the tenant namespace.
func in(t *v1alpha1.Tenant, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: t.NamespaceName(), Name: name}
}

func secretData(t *v1alpha1.Tenant, name string) map[string][]byte {
	GinkgoHelper()
	s := &corev1.Secret{}
	Expect(k8s.Get(ctx, in(t, name), s)).To(Succeed())
	return s.Data
}

var _ = Describe("a Tenant", func() {
	It("provisions a complete, isolated, HTTPS-only tenant and reports kstatus health", func() {
		tn := withMail(newTenant("full"))
		tn.Spec.App.Replicas = ptr.To[int32](3)
		node.Hold(tn.NamespaceName())
		Expect(k8s.Create(ctx, tn)).To(Succeed())

		By("reporting InProgress while the stores and app start")
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.InProgressStatus))
		Eventually(func() string { return condition(getTenant(tn.Name), v1alpha1.ConditionStoresReady).Reason }).Should(Equal("StoresStarting"))
		Expect(conditionStatus(getTenant(tn.Name), v1alpha1.ConditionReconciling)).To(Equal(metav1.ConditionTrue))

		By("becoming Current once the node runs the workloads")
		node.Release(tn.NamespaceName())
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.CurrentStatus))
		got := getTenant(tn.Name)
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		Expect(got.Status.URL).To(Equal("https://" + tn.Spec.App.Host))
		Expect(got.Status.Keyring.ActiveKeyID).To(Equal("k1"))
		Expect(got.Status.Certificate.NotAfter).NotTo(BeNil())
		for _, c := range []string{v1alpha1.ConditionNamespaceReady, v1alpha1.ConditionSecretsReady, v1alpha1.ConditionCertificateReady, v1alpha1.ConditionStoresReady, v1alpha1.ConditionAppAvailable} {
			Expect(conditionStatus(got, c)).To(Equal(metav1.ConditionTrue), "condition %s", c)
		}

		By("binding the admins to a Role limited to the tenant's kinds")
		rb := &rbacv1.RoleBinding{}
		Expect(k8s.Get(ctx, in(tn, "inboxchat-tenant-admin"), rb)).To(Succeed())
		Expect(rb.Subjects).To(ConsistOf(HaveField("Name", tn.Name+"-owner")))
		role := &rbacv1.Role{}
		Expect(k8s.Get(ctx, in(tn, "inboxchat-tenant-admin"), role)).To(Succeed())
		Expect(role.Rules[0].Resources).To(ConsistOf("broadcasts", "erasurerequests", "policyupdates"))
		sa := &corev1.ServiceAccount{}
		Expect(k8s.Get(ctx, in(tn, "inboxchat-app"), sa)).To(Succeed())
		Expect(sa.AutomountServiceAccountToken).To(HaveValue(BeFalse()))

		By("isolating the namespace")
		pols := &networkingv1.NetworkPolicyList{}
		Expect(k8s.List(ctx, pols, client.InNamespace(tn.NamespaceName()))).To(Succeed())
		Expect(pols.Items).To(ContainElement(HaveField("Name", "inboxchat-default-deny")))
		Expect(pols.Items).To(ContainElement(HaveField("Name", "inboxchat-allow-workers-to-apiserver")))
		Expect(pols.Items).To(HaveLen(5))

		By("generating the secrets")
		app := secretData(tn, "inboxchat-app")
		Expect(app).To(HaveKey("session-key"))
		Expect(app).To(HaveKey("unsubscribe-key"))
		Expect(app).To(HaveKey("blind-index-key"))
		kr, err := crypto.KeyringFromSecretData(secretData(tn, "inboxchat-keyring"))
		Expect(err).NotTo(HaveOccurred())
		Expect(kr.ActiveKeyID()).To(Equal("k1"))
		db := secretData(tn, "inboxchat-db-credentials")
		Expect(string(db["dsn"])).To(ContainSubstring("sslmode=verify-full"))

		By("serving HTTPS with a certificate from the operator's CA")
		tls := secretData(tn, "inboxchat-tls")
		block, _ := pem.Decode(tls["tls.crt"])
		cert, err := x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		pool := x509.NewCertPool()
		Expect(pool.AppendCertsFromPEM(tls["ca.crt"])).To(BeTrue())
		_, err = cert.Verify(x509.VerifyOptions{DNSName: tn.Spec.App.Host, Roots: pool, CurrentTime: clock.Now()})
		Expect(err).NotTo(HaveOccurred())
		ing := &networkingv1.Ingress{}
		Expect(k8s.Get(ctx, in(tn, "inboxchat"), ing)).To(Succeed())
		Expect(ing.Spec.TLS).To(ConsistOf(HaveField("SecretName", "inboxchat-tls")))
		Expect(ing.Annotations).To(HaveKeyWithValue("nginx.ingress.kubernetes.io/force-ssl-redirect", "true"))
		Expect(ing.Annotations["nginx.ingress.kubernetes.io/configuration-snippet"]).To(ContainSubstring("Strict-Transport-Security"))

		By("running the stores and the app, with a PodDisruptionBudget for 3 replicas")
		for _, name := range []string{"inboxchat-db", "inboxchat-redis"} {
			Expect(k8s.Get(ctx, in(tn, name), &appsv1.StatefulSet{})).To(Succeed())
		}
		Expect(k8s.Get(ctx, in(tn, "inboxchat-files"), &corev1.PersistentVolumeClaim{})).To(Succeed())
		Expect(k8s.Get(ctx, in(tn, "inboxchat-app"), &policyv1.PodDisruptionBudget{})).To(Succeed())
		dep := &appsv1.Deployment{}
		Expect(k8s.Get(ctx, in(tn, "inboxchat-app"), dep)).To(Succeed())
		Expect(dep.OwnerReferences).To(ContainElement(HaveField("UID", tn.UID)))

		By("e-mailing the admins once, when the tenant first became Ready")
		owner := tn.Spec.Admins[0].Email
		Eventually(func() []string { return mailsTo(owner) }).Should(ContainElement(ContainSubstring("ready")))
		Expect(getTenant(tn.Name).Status.FirstReadyAt).NotTo(BeNil())
		nudge(tn.Name)
		Consistently(func() int { return len(mailsTo(owner)) }, 2*time.Second).Should(Equal(1))

		By("keeping personal data out of status and events")
		for _, note := range eventsFor(tn.Name) {
			Expect(note).NotTo(ContainSubstring(owner))
		}
		Expect(fmt.Sprintf("%+v", getTenant(tn.Name).Status)).NotTo(ContainSubstring(owner))
	})

	It("makes no write at all on a reconcile that finds everything in place", func() {
		tn := newTenant("noop")
		Expect(k8s.Create(ctx, tn)).To(Succeed())
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.CurrentStatus))
		// Let the last status patch and events settle.
		Consistently(func() string { return getTenant(tn.Name).ResourceVersion }, 2*time.Second).Should(Equal(getTenant(tn.Name).ResourceVersion))

		before, readsBefore := operatorWrites.Load(), secretReadsIn(tn.NamespaceName())
		rv := getTenant(tn.Name).Status.ObservedGeneration
		nudge(tn.Name)
		nudge(tn.Name)
		Consistently(func() int64 { return operatorWrites.Load() - before }, 3*time.Second).Should(BeZero(),
			"a no-op reconcile wrote to the API server")
		Expect(getTenant(tn.Name).Status.ObservedGeneration).To(Equal(rv))
		// The generated Secrets were checked once; unchanged since, they
		// are not read again (the cache holds them without their data).
		Expect(secretReadsIn(tn.NamespaceName())-readsBefore).To(BeZero(), "a no-op reconcile read Secrets through the API")
	})

	It("puts back children changed or deleted by hand", func() {
		tn := newTenant("drift")
		Expect(k8s.Create(ctx, tn)).To(Succeed())
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.CurrentStatus))
		sessionKey := secretData(tn, "inboxchat-app")["session-key"]

		By("restoring a deleted Service and NetworkPolicy")
		Expect(k8s.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "inboxchat-app", Namespace: tn.NamespaceName()}})).To(Succeed())
		Expect(k8s.Delete(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "inboxchat-default-deny", Namespace: tn.NamespaceName()}})).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, in(tn, "inboxchat-app"), &corev1.Service{}) }).Should(Succeed())
		Eventually(func() error { return k8s.Get(ctx, in(tn, "inboxchat-default-deny"), &networkingv1.NetworkPolicy{}) }).Should(Succeed())

		By("deleting a NetworkPolicy an earlier version made and the current ones replace")
		retired := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "inboxchat-allow-dns", Namespace: tn.NamespaceName(),
			Labels: map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, v1alpha1.LabelTenant: tn.Name}}}
		Expect(controllerutil.SetControllerReference(getTenant(tn.Name), retired, k8s.Scheme())).To(Succeed())
		Expect(k8s.Create(ctx, retired)).To(Succeed())
		cur := getTenant(tn.Name)
		patch := client.MergeFrom(cur.DeepCopy())
		cur.Annotations = map[string]string{"test.inboxchat.io/upgraded": "true"}
		Expect(k8s.Patch(ctx, cur, patch)).To(Succeed()) // as an operator upgrade resyncs every Tenant
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, in(tn, "inboxchat-allow-dns"), &networkingv1.NetworkPolicy{}))
		}).Should(BeTrue())

		By("reverting a changed image and a loosened security context")
		dep := &appsv1.Deployment{}
		Expect(k8s.Get(ctx, in(tn, "inboxchat-app"), dep)).To(Succeed())
		dep.Spec.Template.Spec.Containers[0].Image = "evil:latest"
		dep.Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		Expect(k8s.Update(ctx, dep)).To(Succeed())
		Eventually(func() string {
			Expect(k8s.Get(ctx, in(tn, "inboxchat-app"), dep)).To(Succeed())
			return dep.Spec.Template.Spec.Containers[0].Image
		}).Should(Equal(tn.Spec.App.Image))
		Expect(*dep.Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation).To(BeFalse())

		By("re-adding a replaceable key deleted from a generated Secret without changing the others")
		unsubscribeKey := secretData(tn, "inboxchat-app")["unsubscribe-key"]
		app := &corev1.Secret{}
		Expect(k8s.Get(ctx, in(tn, "inboxchat-app"), app)).To(Succeed())
		delete(app.Data, "session-key")
		Expect(k8s.Update(ctx, app)).To(Succeed())
		Eventually(func() map[string][]byte { return secretData(tn, "inboxchat-app") }).Should(HaveKey("session-key"))
		Expect(secretData(tn, "inboxchat-app")["session-key"]).NotTo(Equal(sessionKey), "a lost session key only logs users out")
		Expect(secretData(tn, "inboxchat-app")["unsubscribe-key"]).To(Equal(unsubscribeKey), "generated values are never regenerated")

		By("stalling, not regenerating, when an irreplaceable key is removed")
		Expect(k8s.Get(ctx, in(tn, "inboxchat-app"), app)).To(Succeed())
		delete(app.Data, "blind-index-key")
		Expect(k8s.Update(ctx, app)).To(Succeed())
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.FailedStatus))
		c := condition(getTenant(tn.Name), v1alpha1.ConditionSecretsReady)
		Expect(c.Reason).To(Equal("SecretKeyLost"))
		Expect(c.Message).To(ContainSubstring("blind-index-key"))
		Expect(secretData(tn, "inboxchat-app")).NotTo(HaveKey("blind-index-key"))
	})

	It("stalls with a reason that names a missing Secret, backs off, and recovers when it appears", func() {
		tn := newTenant("missing")
		tn.Spec.Messenger = &v1alpha1.MessengerSpec{PageID: "1234", AccessTokenSecretRef: v1alpha1.SecretReference{Name: "page-token"}}
		Expect(k8s.Create(ctx, tn)).To(Succeed())
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.FailedStatus))
		c := condition(getTenant(tn.Name), v1alpha1.ConditionSecretsReady)
		Expect(c.Reason).To(Equal("SecretMissing"))
		Expect(c.Message).To(ContainSubstring("page-token"))
		Expect(c.Message).To(ContainSubstring("spec.messenger.accessTokenSecretRef"))

		By("not hot-looping while stalled")
		before := operatorWrites.Load()
		Consistently(func() int64 { return operatorWrites.Load() - before }, 3*time.Second).Should(BeNumerically("<=", 1))

		By("recovering once the Secret exists")
		Expect(k8s.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "page-token", Namespace: tn.NamespaceName()},
			StringData: map[string]string{"accessToken": "EAAB-not-a-real-token"},
		})).To(Succeed())
		Eventually(tenantStatus(tn.Name), 40*time.Second).Should(Equal(status.CurrentStatus))
	})

	It("stalls when spec.tls.issuerRef names cert-manager but it is not installed", func() {
		tn := newTenant("issuer")
		tn.Spec.TLS.IssuerRef = &v1alpha1.IssuerReference{Name: "letsencrypt", Kind: "ClusterIssuer", Group: "cert-manager.io"}
		Expect(k8s.Create(ctx, tn)).To(Succeed())
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.FailedStatus))
		c := condition(getTenant(tn.Name), v1alpha1.ConditionCertificateReady)
		Expect(c.Reason).To(Equal("CertManagerMissing"))
		Expect(c.Message).To(ContainSubstring("ClusterIssuer letsencrypt"))
	})

	It("rotates the keyring when the interval has passed, keeps the old key, and tells the admins", func() {
		tn := withMail(newTenant("rotate"))
		tn.Spec.Encryption.KeyRotationInterval = &metav1.Duration{Duration: 48 * time.Hour}
		Expect(k8s.Create(ctx, tn)).To(Succeed())
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.CurrentStatus))
		old, err := crypto.KeyringFromSecretData(secretData(tn, "inboxchat-keyring"))
		Expect(err).NotTo(HaveOccurred())
		sealed, err := old.Seal([]byte("sealed before the rotation"), nil)
		Expect(err).NotTo(HaveOccurred())

		clock.Step(49 * time.Hour)
		nudge(tn.Name)
		Eventually(func() string { return getTenant(tn.Name).Status.Keyring.ActiveKeyID }).Should(Equal("k2"))
		kr, err := crypto.KeyringFromSecretData(secretData(tn, "inboxchat-keyring"))
		Expect(err).NotTo(HaveOccurred())
		Expect(kr.Len()).To(Equal(2))
		Expect(kr.Open(sealed, nil)).To(Equal([]byte("sealed before the rotation")))
		Expect(getTenant(tn.Name).Status.Keyring.Keys).To(Equal(int32(2)))
		Eventually(func() []string { return mailsTo(tn.Spec.Admins[0].Email) }).Should(ContainElement(ContainSubstring("rotated")))
		Expect(eventsFor(tn.Name)).To(ContainElement(ContainSubstring("KeysRotated")))
	})

	It("renews its certificate at two thirds of its lifetime and tells the admins", func() {
		tn := withMail(newTenant("renew"))
		Expect(k8s.Create(ctx, tn)).To(Succeed())
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.CurrentStatus))
		first := getTenant(tn.Name).Status.Certificate
		Expect(first.RenewAt.Sub(first.NotAfter.Time)).To(BeNumerically("~", -30*24*time.Hour, 24*time.Hour))

		clock.SetTime(first.RenewAt.Add(time.Minute))
		nudge(tn.Name)
		Eventually(func() bool { return getTenant(tn.Name).Status.Certificate.NotAfter.After(first.NotAfter.Time) }).Should(BeTrue())
		Eventually(func() []string { return mailsTo(tn.Spec.Admins[0].Email) }).Should(ContainElement(ContainSubstring("ertificate")))
		Expect(eventsFor(tn.Name)).To(ContainElement(ContainSubstring("CertificateRenewed")))
	})

	It("scales the app to zero while suspended and stays Ready", func() {
		tn := newTenant("suspend")
		tn.Spec.Suspend = true
		Expect(k8s.Create(ctx, tn)).To(Succeed())
		Eventually(tenantStatus(tn.Name)).Should(Equal(status.CurrentStatus))
		Expect(condition(getTenant(tn.Name), v1alpha1.ConditionReady).Reason).To(Equal("Suspended"))
		dep := &appsv1.Deployment{}
		Expect(k8s.Get(ctx, in(tn, "inboxchat-app"), dep)).To(Succeed())
		Expect(*dep.Spec.Replicas).To(BeZero())
	})

	Describe("deletion", func() {
		It("with Retain keeps the data and its keys for a later Tenant of the same name", func() {
			tn := newTenant("retain")
			tn.Spec.Offboarding.Policy = v1alpha1.OffboardingRetain
			Expect(k8s.Create(ctx, tn)).To(Succeed())
			Eventually(tenantStatus(tn.Name)).Should(Equal(status.CurrentStatus))
			keyring := secretData(tn, "inboxchat-keyring")
			dbCreds := secretData(tn, "inboxchat-db-credentials")

			Expect(k8s.Delete(ctx, getTenant(tn.Name))).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: tn.Name}, &v1alpha1.Tenant{}))
			}).Should(BeTrue())

			ns := &corev1.Namespace{}
			Expect(k8s.Get(ctx, client.ObjectKey{Name: tn.NamespaceName()}, ns)).To(Succeed())
			Expect(ns.DeletionTimestamp).To(BeNil())
			Expect(ns.OwnerReferences).To(BeEmpty(), "a retained namespace must not be garbage-collected with the Tenant")
			for _, name := range []string{"inboxchat-keyring", "inboxchat-db-credentials", "inboxchat-app"} {
				s := &corev1.Secret{}
				Expect(k8s.Get(ctx, in(tn, name), s)).To(Succeed())
				Expect(s.OwnerReferences).To(BeEmpty())
			}
			claim := &corev1.PersistentVolumeClaim{}
			Expect(k8s.Get(ctx, in(tn, "inboxchat-files"), claim)).To(Succeed())
			Expect(claim.OwnerReferences).To(BeEmpty())
			Expect(apierrors.IsNotFound(k8s.Get(ctx, in(tn, "inboxchat-app"), &appsv1.Deployment{}))).To(BeTrue())

			By("a new Tenant of the same name finds the data and keys again")
			again := newTenant("x")
			again.Name = tn.Name
			again.Spec.App.Host = tn.Spec.App.Host
			Expect(k8s.Create(ctx, again)).To(Succeed())
			Eventually(tenantStatus(tn.Name)).Should(Equal(status.CurrentStatus))
			Expect(secretData(tn, "inboxchat-keyring")).To(Equal(keyring))
			Expect(secretData(tn, "inboxchat-db-credentials")).To(Equal(dbCreds))
			Expect(getTenant(tn.Name).Status.Keyring.ActiveKeyID).To(Equal("k1"))
			Eventually(func() []metav1.OwnerReference {
				Expect(k8s.Get(ctx, in(tn, "inboxchat-files"), claim)).To(Succeed())
				return claim.OwnerReferences
			}).Should(ContainElement(HaveField("UID", getTenant(tn.Name).UID)))
		})

		It("with Erase waits for an explicit confirmation and erases nothing before it", func() {
			tn := newTenant("erase")
			Expect(k8s.Create(ctx, tn)).To(Succeed())
			Eventually(tenantStatus(tn.Name)).Should(Equal(status.CurrentStatus))
			Expect(k8s.Delete(ctx, getTenant(tn.Name))).To(Succeed())

			Eventually(func() string { return condition(getTenant(tn.Name), v1alpha1.ConditionStalled).Reason }).Should(Equal("ErasureNotConfirmed"))
			msg := condition(getTenant(tn.Name), v1alpha1.ConditionStalled).Message
			Expect(msg).To(ContainSubstring(v1alpha1.AnnotationConfirmErase + "=" + tn.Name))
			ns := &corev1.Namespace{}
			Consistently(func() *metav1.Time {
				Expect(k8s.Get(ctx, client.ObjectKey{Name: tn.NamespaceName()}, ns)).To(Succeed())
				return ns.DeletionTimestamp
			}, 2*time.Second).Should(BeNil())
			Expect(k8s.Get(ctx, in(tn, "inboxchat-keyring"), &corev1.Secret{})).To(Succeed())

			By("a wrong confirmation does not count")
			t := getTenant(tn.Name)
			patch := client.MergeFrom(t.DeepCopy())
			t.Annotations = map[string]string{v1alpha1.AnnotationConfirmErase: "some-other-tenant"}
			Expect(k8s.Patch(ctx, t, patch)).To(Succeed())
			Consistently(func() error { return k8s.Get(ctx, client.ObjectKey{Name: tn.Name}, &v1alpha1.Tenant{}) }, 2*time.Second).Should(Succeed())

			By("the confirmation naming the Tenant lets offboarding proceed")
			t = getTenant(tn.Name)
			patch = client.MergeFrom(t.DeepCopy())
			t.Annotations[v1alpha1.AnnotationConfirmErase] = tn.Name
			Expect(k8s.Patch(ctx, t, patch)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: tn.Name}, &v1alpha1.Tenant{}))
			}).Should(BeTrue())
			Expect(k8s.Get(ctx, client.ObjectKey{Name: tn.NamespaceName()}, ns)).To(Succeed())
			Expect(ns.DeletionTimestamp).NotTo(BeNil(), "the namespace, and with it the managed stores' volumes, is deleted")
		})
	})
})
