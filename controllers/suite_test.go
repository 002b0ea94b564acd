package controllers_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inboxchat/inboxchat-operator/internal/localnode"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
	"github.com/inboxchat/inboxchat-operator/internal/mail/smtptest"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

const operatorNamespace = "inboxchat-system"

var (
	env    *envtest.Environment
	cfg    *rest.Config
	k8s    client.Client
	clock  *clocktesting.FakeClock
	node   *localnode.Node
	smtp   *smtptest.Server
	ctx    context.Context
	cancel context.CancelFunc
	// operatorWrites counts the operator's write requests to the API server.
	operatorWrites atomic.Int64
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Controllers against a real kube-apiserver")
}

// countingTransport counts requests that write (anything but GET, and
// watches and lists, which are GETs too).
type countingTransport struct{ next http.RoundTripper }

func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		operatorWrites.Add(1)
	} else if strings.Contains(req.URL.Path, "/secrets/") {
		secretReads.Lock()
		secretReads.paths = append(secretReads.paths, req.URL.Path)
		secretReads.Unlock()
	}
	return c.next.RoundTrip(req)
}

// secretReads records the paths of the Secrets the operator read through
// the API (not the cache).
var secretReads struct {
	sync.Mutex
	paths []string
}

// secretReadsIn counts the operator's Secret reads in a namespace so far.
func secretReadsIn(ns string) int {
	secretReads.Lock()
	defer secretReads.Unlock()
	n := 0
	for _, p := range secretReads.paths {
		if strings.Contains(p, "/namespaces/"+ns+"/secrets/") {
			n++
		}
	}
	return n
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	var err error
	env, cfg, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())

	smtp = smtptest.New(GinkgoT(), smtptest.WithSTARTTLS(), smtptest.WithAuth("operator", "mail-password"))

	// The operator's Jobs (the managed databases' migrations) "succeed"
	// here: these specs are about the controllers; test/e2e runs the real
	// workers against real stores.
	node = &localnode.Node{Config: cfg, Binary: "/bin/true", Root: GinkgoT().TempDir()}
	Expect(node.Start(ctx)).To(Succeed())

	clock = clocktesting.NewFakeClock(time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC))
	// The manager runs as the operator's ServiceAccount with the ClusterRole
	// it ships with, so a permission missing from the markers fails here.
	opCfg, err := testenv.OperatorConfig(ctx, k8s, cfg, operatorNamespace)
	Expect(err).NotTo(HaveOccurred())
	opCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt} })
	mgr, err := operator.NewManager(opCfg, operator.Options{
		MetricsAddr:       "0",
		ProbeAddr:         "0",
		OperatorNamespace: operatorNamespace,
		Clock:             clock,
		Notifier:          &operator.SMTPNotifier{Reader: k8s, Options: []mail.Option{mail.WithTLSConfig(smtp.ClientTLSConfig())}},
	})
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
