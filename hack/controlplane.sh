#!/usr/bin/env bash
# Builds the control plane that envtest and `make run` use -- kube-apiserver,
# etcd and kubectl -- from their Go modules (pinned in hack/controlplane/go.mod),
# and caches them where setup-envtest keeps its binaries. Nothing prebuilt is
# downloaded. Prints the directory to use as KUBEBUILDER_ASSETS.
#
# A second run with the same pins reuses the cache: the stamp file records the
# hash of go.mod/go.sum and the version the binaries were built for.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod="$here/controlplane"
version=${KUBE_VERSION:-1.37.2}
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
goos=$(go env GOOS)
goarch=$(go env GOARCH)
dest=${ENVTEST_ASSETS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest/k8s/${version}-${goos}-${goarch}}
stamp="$dest/.inboxchat-stamp"
want=$(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -d' ' -f1)

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$dest/kube-apiserver" && -x "$dest/etcd" && -x "$dest/kubectl" ]]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$dest"
echo "building kube-apiserver, etcd and kubectl v${version} from source into $dest (first run only, a few minutes)" >&2
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=v${version} \
 -X k8s.io/component-base/version.gitMajor=${major} \
 -X k8s.io/component-base/version.gitMinor=${minor} \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z \
 -X k8s.io/client-go/pkg/version.gitVersion=v${version} \
 -X k8s.io/client-go/pkg/version.gitMajor=${major} \
 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
start=$(date +%s)
(
  cd "$mod"
  export CGO_ENABLED=0 GOFLAGS=-mod=mod
  go build -trimpath -ldflags "$ldflags" -o "$dest/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  go build -trimpath -ldflags "$ldflags" -o "$dest/kubectl" k8s.io/kubernetes/cmd/kubectl
  go build -trimpath -ldflags "-s -w" -o "$dest/etcd" go.etcd.io/etcd/server/v3
)
echo "$want" > "$stamp"
echo "control plane built in $(( $(date +%s) - start ))s" >&2
echo "$dest"
