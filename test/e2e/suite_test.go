// Package e2e drives the operator end to end: a real kube-apiserver and
// etcd, the operator's controllers, the local stand-in node running the real
// operator binary's worker subcommands as the Jobs' pods, real PostgreSQL and
// Redis as a tenant's external stores, the Messenger emulator and an SMTP
// server speaking real SMTP.
package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/controllers"
	"github.com/inboxchat/inboxchat-operator/internal/localnode"
	"github.com/inboxchat/inboxchat-operator/internal/mail/smtptest"
	"github.com/inboxchat/inboxchat-operator/internal/messenger"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/storetest"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

const (
	tenantName   = "e2e"
	tenantNS     = "tenant-e2e"
	pageID       = "1000200030004"
	pageToken    = "EAAB-e2e-page-token"
	adminAddress = "owner@e2e.example"
)

var (
	env      *envtest.Environment
	cfg      *rest.Config
	k8s      client.Client
	node     *localnode.Node
	smtp     *smtptest.Server
	graph    *messenger.Emulator
	db       *sql.DB
	dbDSN    string
	redisURL string
	ctx      context.Context
	cancel   context.CancelFunc
	// operatorBinary is the operator built for this run.
	operatorBinary string
	// offDSN and offRedisURL are the stores of a second tenant that leaves.
	offDSN, offRedisURL string
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	// The stores come from storetest, which needs a *testing.T.
	dbDSN = storetest.Postgres(t)
	redisURL = storetest.Redis(t)
	offDSN, offRedisURL = storetest.Postgres(t), storetest.Redis(t)
	var err error
	db, err = schema.Open(schema.Postgres, dbDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := schema.Apply(context.Background(), db, schema.Postgres); err != nil {
		t.Fatal(err)
	}
	// Plain SMTP on loopback: the workers run as separate processes and
	// would not trust the test server's self-signed certificate.
	smtp = smtptest.New(t)
	graph, err = messenger.NewEmulator(messenger.EmulatorConfig{Addr: "127.0.0.1:0", AccessTokens: []string{pageToken}, RatePerSecond: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer graph.Close()
	RunSpecs(t, "End to end: operator, worker Jobs, real stores")
}

var _ = BeforeSuite(func() {
	// Everything the operator and its workers log is kept, and scanned for
	// personal data at the end.
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, &logs)), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	By("building the operator binary the Jobs run")
	root, err := testenv.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	bin := filepath.Join(GinkgoT().TempDir(), "inboxchat-operator")
	operatorBinary = bin
	build := exec.Command("go", "build", "-o", bin, "./cmd")
	build.Dir = root
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "building the operator: %s", out)

	env, cfg, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "inboxchat-system"}})).To(Succeed())

	node = &localnode.Node{Config: cfg, Binary: bin, Root: GinkgoT().TempDir(), Output: io.MultiWriter(GinkgoWriter, &logs), RetryDelay: 200 * time.Millisecond}
	Expect(node.Start(ctx)).To(Succeed())

	// The manager runs as the operator's ServiceAccount with the ClusterRole
	// it ships with.
	opCfg, err := testenv.OperatorConfig(ctx, k8s, cfg, "inboxchat-system")
	Expect(err).NotTo(HaveOccurred())
	mgr, err := operator.NewManager(opCfg, operator.Options{
		MetricsAddr: "0", ProbeAddr: "0", OperatorNamespace: "inboxchat-system",
		Worker:   &controllers.WorkerOptions{Image: "inboxchat-operator:e2e", BackoffLimit: 3},
		Notifier: &operator.SMTPNotifier{Reader: k8s},
	})
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()

	By("provisioning a tenant whose stores are the local PostgreSQL and Redis")
	createTenant()
})

var _ = AfterSuite(func() {
	By("finding no personal data in any log of the operator or its workers")
	text := logs.String()
	Expect(text).NotTo(BeEmpty())
	for _, v := range personalData.values() {
		Expect(strings.Contains(text, v)).To(BeFalse(), "personal data %q appears in the logs", v)
	}
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

func createTenant() {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenantNS, Labels: map[string]string{v1alpha1.LabelTenant: tenantName}}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	secrets := map[string]map[string]string{
		"database":   {"dsn": dbDSN},
		"sessions":   {"url": redisURL},
		"page-token": {"accessToken": pageToken},
		"smtp":       {"host": smtp.Host(), "port": fmt.Sprint(smtp.Port()), "from": "InboxChat <noreply@e2e.example>", "tls": "none"},
	}
	for name, data := range secrets {
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tenantNS}, StringData: data})).To(Succeed())
	}
	tn := &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: tenantName},
		Spec: v1alpha1.TenantSpec{
			DisplayName: "E2E Shop",
			Admins:      []v1alpha1.TenantAdmin{{Email: adminAddress, User: "e2e-owner"}},
			App:         v1alpha1.AppSpec{Image: "ghcr.io/inboxchat/app:1", Host: "e2e.chat.example"},
			Stores: v1alpha1.StoresSpec{
				Database: v1alpha1.DatabaseStore{External: &v1alpha1.ExternalDatabase{Engine: v1alpha1.DatabaseEnginePostgres, SecretRef: v1alpha1.SecretReference{Name: "database"}}},
				Sessions: &v1alpha1.SessionStore{External: &v1alpha1.ExternalSessions{SecretRef: v1alpha1.SecretReference{Name: "sessions"}}},
			},
			Messenger:     &v1alpha1.MessengerSpec{PageID: pageID, AccessTokenSecretRef: v1alpha1.SecretReference{Name: "page-token"}, GraphAPIURL: graph.URL(), MessagesPerSecond: 300},
			Notifications: v1alpha1.NotificationsSpec{SMTPSecretRef: &v1alpha1.SecretReference{Name: "smtp"}},
		},
	}
	Expect(k8s.Create(ctx, tn)).To(Succeed())
	Eventually(func() bool {
		got := &v1alpha1.Tenant{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: tenantName}, got)).To(Succeed())
		for _, c := range got.Status.Conditions {
			if c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
				return true
			}
		}
		return false
	}).Should(BeTrue(), "the e2e tenant did not become Ready")
}
