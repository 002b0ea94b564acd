#!/usr/bin/env bash
# Builds helm from its Go module (pinned by the `tool` directive in
# hack/tools/go.mod) and caches it, the way hack/controlplane.sh builds the
# control plane: nothing prebuilt is downloaded. Prints the path of the binary.
#
# A second run with the same pins reuses the cache: the stamp file records the
# hash of hack/tools/go.mod, go.sum and this script.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod="$here/tools"
version=$(cd "$mod" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
dest=${HELM_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/inboxchat-tools/helm-${version}}
stamp="$dest/.inboxchat-stamp"
want=$(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -d' ' -f1)

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$dest/helm" ]]; then
  echo "$dest/helm"
  exit 0
fi

mkdir -p "$dest"
echo "building helm ${version} from source into $dest (first run only, a few minutes)" >&2
start=$(date +%s)
(
  cd "$mod"
  export CGO_ENABLED=0 GOFLAGS=-mod=mod
  # The same version stamps helm's own Makefile sets: helm's version, and the
  # Kubernetes version `helm template` and `helm lint` assume (from client-go).
  k8s=$(go list -m -f '{{.Version}}' k8s.io/client-go)   # v0.MINOR.PATCH
  k8s_minor=${k8s#v0.}; k8s_minor=${k8s_minor%%.*}
  go build -trimpath -o "$dest/helm.tmp" -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=${version} \
    -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${k8s_minor} \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${k8s_minor}" \
    helm.sh/helm/v3/cmd/helm
  mv "$dest/helm.tmp" "$dest/helm"
)
echo "$want" > "$stamp"
echo "helm built in $(( $(date +%s) - start ))s" >&2
echo "$dest/helm"
