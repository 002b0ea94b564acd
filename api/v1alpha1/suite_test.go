package v1alpha1_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

var (
	env *envtest.Environment
	k8s client.Client
	ctx = context.Background()
)

func TestAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "API validation against a real kube-apiserver")
}

var _ = BeforeSuite(func() {
	var err error
	e, restCfg, err := testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	env = e
	k8s, err = client.New(restCfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	dc, err := discovery.NewDiscoveryClientForConfig(restCfg)
	Expect(err).NotTo(HaveOccurred())
	v, err := dc.ServerVersion()
	Expect(err).NotTo(HaveOccurred())
	Expect(v.GitVersion).To(Equal(testenv.KubeVersion), "the suite must run against the kube-apiserver built by hack/controlplane.sh")
	GinkgoWriter.Printf("running against kube-apiserver %s from %s\n", v.GitVersion, env.BinaryAssetsDirectory)
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
