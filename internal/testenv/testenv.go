// Package testenv starts the real control plane for tests: kube-apiserver and
// etcd built from their Go modules by `make envtest` (hack/controlplane.sh),
// with this project's CRDs installed.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KubeVersion is the Kubernetes version the control plane is built at.
const KubeVersion = "v1.37.2"

// RepoRoot finds the module root by walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/inboxchat/inboxchat-operator\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the inboxchat-operator module root above the working directory")
		}
		dir = parent
	}
}

// Environment returns an envtest environment for the built control plane,
// with the CRDs (and, when webhookDir is not empty, the webhooks) installed.
// It fails with instructions when the binaries are missing.
func Environment() (*envtest.Environment, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd (`make envtest`) and sets it")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("%s is missing from KUBEBUILDER_ASSETS=%s: run `make envtest` to build it", bin, assets)
		}
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	// envtest's default service range (a /24) runs out after about 250
	// Services; a cluster-sized range lets benchmarks make thousands.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/12")
	return env, nil
}

// Start starts the control plane and returns its environment and admin config.
func Start() (*envtest.Environment, *rest.Config, error) {
	env, err := Environment()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", env.BinaryAssetsDirectory, err)
	}
	return env, cfg, nil
}
