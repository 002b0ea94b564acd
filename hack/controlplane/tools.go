//go:build tools

// Package controlplane pins the Kubernetes control-plane programs that the
// test suites and `make run` use. hack/controlplane.sh builds them from these
// modules; nothing is downloaded prebuilt.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
