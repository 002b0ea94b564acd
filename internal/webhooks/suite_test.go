package webhooks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
	"github.com/inboxchat/inboxchat-operator/internal/webhooks"
)

const (
	operatorNamespace = "inboxchat-system"
	// configurationName is the configuration's name once config/default
	// prefixes the generated one with "inboxchat-".
	configurationName = webhooks.DefaultConfigurationName
)

var (
	env    *envtest.Environment
	cfg    *rest.Config
	k8s    client.Client
	root   string
	ctx    context.Context
	cancel context.CancelFunc
)

func TestWebhooks(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Admission webhooks against a real kube-apiserver")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	var err error
	root, err = testenv.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	env, err = testenv.Environment()
	Expect(err).NotTo(HaveOccurred())
	// envtest installs the generated configuration pointed at a local port
	// (with its own CA bundle, which the operator's rotator replaces).
	// Under the name config/default gives it (namePrefix inboxchat-), which
	// is the only one the operator's ClusterRole lets it update.
	data, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
	Expect(err).NotTo(HaveOccurred())
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	Expect(yaml.Unmarshal(data, vwc)).To(Succeed())
	vwc.Name = configurationName
	env.WebhookInstallOptions = envtest.WebhookInstallOptions{ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{vwc}}
	cfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())

	startOperator()
})

// startOperator starts the operator with its webhook server on envtest's
// webhook port, and waits until the API server reaches it: until the
// operator's CA bundle is in the configuration and a check gets refused.
func startOperator() {
	GinkgoHelper()
	wo := env.WebhookInstallOptions
	// As the operator's ServiceAccount with the ClusterRole it ships with.
	opCfg, err := testenv.OperatorConfig(ctx, k8s, cfg, operatorNamespace)
	Expect(err).NotTo(HaveOccurred())
	mgr, err := operator.NewManager(opCfg, operator.Options{
		MetricsAddr:       "0",
		ProbeAddr:         "0",
		OperatorNamespace: operatorNamespace,
		Webhook: &operator.WebhookOptions{
			Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertMode: operator.WebhookCertsSelf,
			Hosts: []string{wo.LocalServingHost, "localhost"}, ConfigurationName: configurationName,
		},
	})
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	// Ready once the operator's CA bundle is in the configuration.
	Eventually(func(g Gomega) {
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: configurationName}, vwc)).To(Succeed())
		ca := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "inboxchat-ca"}, ca)).To(Succeed())
		for _, w := range vwc.Webhooks {
			g.Expect(string(w.ClientConfig.CABundle)).To(Equal(string(ca.Data[corev1.TLSCertKey])), "webhook %s", w.Name)
		}
	}).Should(Succeed())
	Eventually(func() error {
		b := broadcastIn("default")
		err := k8s.Create(ctx, b)
		if err == nil {
			Expect(k8s.Delete(ctx, b)).To(Succeed())
		}
		if err == nil || !apierrors.IsInvalid(err) {
			return fmt.Errorf("the webhook server does not answer yet: %v", err)
		}
		return nil
	}).Should(Succeed())
}

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
