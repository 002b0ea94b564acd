package webhooks_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

var seq atomic.Int64

func newTenant(prefix string) *v1alpha1.Tenant {
	name := fmt.Sprintf("%s-%d", prefix, seq.Add(1))
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

// tenantWithNamespace creates a Tenant after its labelled namespace, as a
// pipeline does, and returns the namespace's name.
func tenantWithNamespace(prefix string) string {
	GinkgoHelper()
	t := newTenant(prefix)
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.NamespaceName(), Labels: map[string]string{v1alpha1.LabelTenant: t.Name}}})).To(Succeed())
	Expect(k8s.Create(ctx, t)).To(Succeed())
	return t.NamespaceName()
}

// refused creates obj until the webhook refuses it (the webhooks' cache may
// lag a moment behind an object just created), undoing any creation that
// got through, and returns the refusal.
func refused(obj client.Object) error {
	GinkgoHelper()
	var refusal error
	Eventually(func() error {
		o := obj.DeepCopyObject().(client.Object)
		err := k8s.Create(ctx, o)
		if err == nil {
			Expect(k8s.Delete(ctx, o)).To(Succeed())
			return errors.New("the webhook let it in")
		}
		refusal = err
		return nil
	}).Should(Succeed())
	Expect(apierrors.IsInvalid(refusal)).To(BeTrue(), "refused as Invalid: %v", refusal)
	return refusal
}

func broadcastIn(ns string) *v1alpha1.Broadcast {
	return &v1alpha1.Broadcast{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("news-%d", seq.Add(1)), Namespace: ns},
		Spec:       v1alpha1.BroadcastSpec{Message: v1alpha1.BroadcastMessage{Text: "Hello"}},
	}
}

func erasureIn(ns, secret string) *v1alpha1.ErasureRequest {
	return &v1alpha1.ErasureRequest{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("adios-%d", seq.Add(1)), Namespace: ns},
		Spec: v1alpha1.ErasureRequestSpec{Subject: v1alpha1.ErasureSubject{
			Kind: v1alpha1.SubjectUser, SecretRef: &v1alpha1.SecretReference{Name: secret},
		}},
	}
}

func subjectSecret(ns string, data map[string]string) string {
	GinkgoHelper()
	name := fmt.Sprintf("who-%d", seq.Add(1))
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data})).To(Succeed())
	return name
}

var _ = Describe("Tenant host", func() {
	It("refuses a second Tenant for a host, whatever its case", func() {
		first := newTenant("host")
		Expect(k8s.Create(ctx, first)).To(Succeed())
		second := newTenant("host")
		second.Spec.App.Host = first.Spec.App.Host
		err := refused(second)
		Expect(err.Error()).To(ContainSubstring("spec.app.host"))
		Expect(err.Error()).To(ContainSubstring("Tenant " + first.Name + " already serves this host"))
	})

	It("refuses moving a Tenant onto a taken host, and lets other updates through", func() {
		a, b := newTenant("move"), newTenant("move")
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(func() error {
			cur := &v1alpha1.Tenant{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), cur)).To(Succeed())
			cur.Spec.App.Host = a.Spec.App.Host
			err := k8s.Update(ctx, cur)
			if err == nil {
				return errors.New("the webhook let the move in")
			}
			if apierrors.IsConflict(err) {
				return err
			}
			Expect(err.Error()).To(ContainSubstring("already serves this host"))
			return nil
		}).Should(Succeed())
		Eventually(func() error {
			cur := &v1alpha1.Tenant{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), cur)).To(Succeed())
			cur.Spec.DisplayName = "Renamed"
			return k8s.Update(ctx, cur)
		}).Should(Succeed())
	})

	It("warns when the tenant namespace exists without the adoption label", func() {
		t := newTenant("warn")
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.NamespaceName()}})).To(Succeed())
		rec := &warningRecorder{}
		withWarnings := rest.CopyConfig(cfg)
		withWarnings.WarningHandler = rec
		c, err := client.New(withWarnings, client.Options{Scheme: k8s.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Create(ctx, t)).To(Succeed())
		Expect(rec.messages()).To(ContainElement(ContainSubstring("already exists without the label " + v1alpha1.LabelTenant)))
	})
})

var _ = Describe("Objects of a tenant", func() {
	It("refuses them outside a tenant namespace", func() {
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}})).To(Succeed())
		err := refused(broadcastIn("plain"))
		Expect(err.Error()).To(ContainSubstring("metadata.namespace"))
		Expect(err.Error()).To(ContainSubstring("not a tenant namespace"))

		pu := &v1alpha1.PolicyUpdate{
			ObjectMeta: metav1.ObjectMeta{Name: "v2", Namespace: "plain"},
			Spec:       v1alpha1.PolicyUpdateSpec{Version: "2", EffectiveAt: metav1.Now(), DocumentURL: "https://example.com/p", Summary: "New"},
		}
		Expect(refused(pu).Error()).To(ContainSubstring("not a tenant namespace"))
	})

	It("refuses a namespace that claims another tenant's label", func() {
		victim := newTenant("victim")
		Expect(k8s.Create(ctx, victim)).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "impostor",
			Labels: map[string]string{v1alpha1.LabelTenant: victim.Name}}})).To(Succeed())
		Expect(refused(broadcastIn("impostor")).Error()).To(ContainSubstring("not a tenant namespace"))
	})

	It("lets them in inside their tenant's namespace", func() {
		ns := tenantWithNamespace("home")
		Expect(k8s.Create(ctx, broadcastIn(ns))).To(Succeed())
	})
})

var _ = Describe("ErasureRequest subject Secret", func() {
	var ns string
	BeforeEach(func() { ns = tenantWithNamespace("subject") })

	It("refuses a request whose Secret does not exist", func() {
		err := refused(erasureIn(ns, "nobody"))
		Expect(err.Error()).To(ContainSubstring("spec.subject.secretRef.name"))
		Expect(err.Error()).To(ContainSubstring("create the subject Secret"))
	})

	It("refuses a Secret with more than one identifier", func() {
		s := subjectSecret(ns, map[string]string{"email": "leaving@customers.example", "id": "u-1"})
		Expect(refused(erasureIn(ns, s)).Error()).To(ContainSubstring("exactly one of the keys [email id]"))
	})

	It("refuses an identifier of the wrong kind for the subject", func() {
		s := subjectSecret(ns, map[string]string{"psid": "1234567890"})
		Expect(refused(erasureIn(ns, s)).Error()).To(ContainSubstring("exactly one of the keys [email id] for a User"))
	})

	It("refuses a malformed identifier without echoing it", func() {
		s := subjectSecret(ns, map[string]string{"email": "Jane Roe <jane.roe@customers.example>"})
		err := refused(erasureIn(ns, s))
		Expect(err.Error()).To(ContainSubstring("does not hold one plain e-mail address"))
		Expect(err.Error()).NotTo(ContainSubstring("jane"))
		Expect(err.Error()).NotTo(ContainSubstring("Roe"))
	})

	It("lets a well-formed request in", func() {
		s := subjectSecret(ns, map[string]string{"email": "leaving@customers.example"})
		Expect(k8s.Create(ctx, erasureIn(ns, s))).To(Succeed())
	})
})

var _ = Describe("The generated configuration", func() {
	var generated admissionregistrationv1.ValidatingWebhookConfiguration
	BeforeEach(func() {
		data, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(yaml.Unmarshal(data, &generated)).To(Succeed())
	})

	It("never blocks the cluster: this project's kinds only, failing open, quickly, never on delete", func() {
		Expect(generated.Webhooks).To(HaveLen(4))
		for _, w := range generated.Webhooks {
			Expect(w.FailurePolicy).To(HaveValue(Equal(admissionregistrationv1.Ignore)), w.Name)
			Expect(w.TimeoutSeconds).To(HaveValue(BeNumerically("<=", 5)), w.Name)
			Expect(w.SideEffects).To(HaveValue(Equal(admissionregistrationv1.SideEffectClassNone)), w.Name)
			for _, r := range w.Rules {
				Expect(r.APIGroups).To(Equal([]string{v1alpha1.GroupVersion.Group}), w.Name)
				Expect(r.Operations).NotTo(ContainElement(admissionregistrationv1.Delete), w.Name)
				Expect(r.Resources).NotTo(ContainElement(ContainSubstring("*")), w.Name)
			}
		}
	})

	It("keeps every webhook out of the system namespaces in config/default", func() {
		data, err := os.ReadFile(filepath.Join(root, "config", "webhook", "namespace_selector_patch.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var patch admissionregistrationv1.ValidatingWebhookConfiguration
		Expect(yaml.Unmarshal(data, &patch)).To(Succeed())
		var want, got []string
		for _, w := range generated.Webhooks {
			want = append(want, w.Name)
		}
		for _, w := range patch.Webhooks {
			got = append(got, w.Name)
			Expect(w.NamespaceSelector.MatchExpressions).To(ContainElement(And(
				HaveField("Key", "kubernetes.io/metadata.name"),
				HaveField("Operator", metav1.LabelSelectorOpNotIn),
				HaveField("Values", ContainElements("kube-system", "kube-public", "kube-node-lease", operatorNamespace)))), w.Name)
		}
		Expect(got).To(ConsistOf(want), "namespace_selector_patch.yaml must name every generated webhook")
	})
})

// The operator being down must not block anything: a copy of the generated
// configuration pointed at a server that accepts connections and never
// answers (a hung operator) holds nothing up beyond its timeout.
var _ = Describe("With the operator down", func() {
	It("lets objects in", func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ln.Close)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				DeferCleanup(c.Close)
			}
		}()
		data, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
		Expect(err).NotTo(HaveOccurred())
		hung := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		Expect(yaml.Unmarshal(data, hung)).To(Succeed())
		hung.Name = "hung-operator"
		for i := range hung.Webhooks {
			w := &hung.Webhooks[i]
			url := "https://" + ln.Addr().String() + *w.ClientConfig.Service.Path
			w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
		}
		Expect(k8s.Create(ctx, hung)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(ctx, hung)).To(Succeed()) })

		t := newTenant("hung")
		Eventually(func() error { return k8s.Create(ctx, t) }).WithTimeout(30 * time.Second).Should(Succeed())
		ns := tenantWithNamespace("hung")
		start := time.Now()
		Expect(k8s.Create(ctx, broadcastIn(ns))).To(Succeed())
		Expect(time.Since(start)).To(BeNumerically("<", 15*time.Second), "held up by the timeout at most")
	})
})

// warningRecorder keeps the API server's warnings.
type warningRecorder struct {
	mu   sync.Mutex
	list []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warningRecorder) messages() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}
