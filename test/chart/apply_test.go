package chart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

const fieldManager = "inboxchat-chart-test"

// cluster is the local control plane, driven with the kubectl built beside it.
type cluster struct {
	kubectl, kubeconfig string
}

// startCluster starts kube-apiserver and etcd with the project's CRDs and the
// test stand-ins for the ServiceMonitor and cert-manager CRDs, and writes a
// kubeconfig for a cluster-admin user.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	kubectl := kubectlBinary(t)
	env, err := testenv.Environment()
	if err != nil {
		t.Fatal(err)
	}
	env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, testdataPath(t, "crds"))
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane from %s: %v", env.BinaryAssetsDirectory, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping the control plane: %v", err)
		}
	})
	user, err := env.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cluster{kubectl: kubectl, kubeconfig: path}
}

func (c *cluster) run(t *testing.T, stdin []byte, args ...string) (stderr string, err error) {
	t.Helper()
	_, errOut, err := runWithStderr(t, stdin, c.kubectl, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	return string(errOut), err
}

// dryRunApply applies manifests server-side in dry-run mode: the API server
// validates, defaults and admits every object and stores none. Pod Security
// warnings (the namespace warns at restricted) fail the test too.
func (c *cluster) dryRunApply(t *testing.T, manifests []byte) {
	t.Helper()
	stderr, err := c.run(t, manifests, "apply", "--server-side", "--dry-run=server", "--field-manager", fieldManager, "-f", "-")
	if err != nil {
		t.Fatalf("server-side dry run refused the manifests: %v", err)
	}
	if strings.Contains(stderr, "PodSecurity") {
		t.Fatalf("the API server warns that the manifests violate Pod Security:\n%s", stderr)
	}
}

// dryRunPods creates a Pod from every workload's template in dry-run mode, so
// the API server's PodSecurity admission enforces "restricted" on it.
func (c *cluster) dryRunPods(t *testing.T, objs manifests) {
	t.Helper()
	for where, tpl := range podTemplates(t, objs) {
		pod := corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{
				Name: "pod-security-check", Namespace: releaseNamespace,
				Labels: tpl.Labels, Annotations: tpl.Annotations,
			},
			Spec: tpl.Spec,
		}
		data, err := yaml.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.run(t, data, "create", "--dry-run=server", "-f", "-"); err != nil {
			t.Errorf("a Pod of %s is refused by the API server: %v", where, err)
		}
	}
}

func TestServerSideDryRun(t *testing.T) {
	helm := helmBinary(t)
	c := startCluster(t)

	// The release namespace, labelled as config/default labels it: the API
	// server enforces Pod Security "restricted" there.
	ns := corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace, Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		}},
	}
	nsYAML, _ := yaml.Marshal(ns)
	if stderr, err := c.run(t, nsYAML, "apply", "--server-side", "--field-manager", fieldManager, "-f", "-"); err != nil {
		t.Fatalf("creating namespace %s: %v\n%s", releaseNamespace, err, stderr)
	}

	// A control: PodSecurity admission is on, or the Pod checks below prove nothing.
	t.Run("a privileged pod is refused in the release namespace", func(t *testing.T) {
		bad := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"privileged","namespace":"` + releaseNamespace + `"},
"spec":{"containers":[{"name":"c","image":"busybox","securityContext":{"privileged":true}}]}}`)
		_, err := c.run(t, bad, "create", "--dry-run=server", "-f", "-")
		if err == nil || !strings.Contains(err.Error(), "PodSecurity") {
			t.Fatalf("the API server did not enforce Pod Security restricted on a privileged pod (err: %v)", err)
		}
	})

	for _, v := range variants {
		t.Run("chart with "+v.name, func(t *testing.T) {
			rendered := helmTemplate(t, v, "--include-crds")
			c.dryRunApply(t, rendered)
			c.dryRunPods(t, decode(t, rendered))
		})
	}

	// The acceptance command, as a user types it: default release
	// name, namespace "default".
	t.Run("helm template charts/inboxchat-operator | kubectl apply --dry-run=server -f -", func(t *testing.T) {
		rendered := run(t, nil, helm, "template", chartPath)
		if stderr, err := c.run(t, rendered, "apply", "--dry-run=server", "-f", "-"); err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
	})

	t.Run("kustomize config/default", func(t *testing.T) {
		rendered := run(t, nil, c.kubectl, "kustomize", "config/default")
		c.dryRunApply(t, rendered)
		c.dryRunPods(t, decode(t, rendered))
	})
}
