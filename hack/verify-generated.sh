#!/usr/bin/env bash
# Regenerates deepcopy code, CRDs and RBAC, and fails when that changed any
# file: the generated files in the tree were stale. Works on a clean clone
# (CI) and on a working tree with uncommitted edits alike, because it compares
# the files before and after generation rather than against git.
set -euo pipefail
cd "$(dirname "$0")/.."

generated() {
  find api -name 'zz_generated*.go'
  find config/crd/bases config/rbac config/webhook -name '*.yaml' 2>/dev/null
  [ -d charts/inboxchat-operator/crds ] && find charts/inboxchat-operator/crds -name "*.yaml"
  for f in clusterrole webhook; do [ -f charts/inboxchat-operator/templates/$f.yaml ] && echo charts/inboxchat-operator/templates/$f.yaml; done
  true
}
snapshot() { generated | sort | xargs -r sha256sum; }

before=$(snapshot)
make --no-print-directory generate manifests >/dev/null
if [ -x hack/sync-chart.sh ]; then hack/sync-chart.sh; fi
after=$(snapshot)
if [ "$before" != "$after" ]; then
  echo "generated files were stale; they have been regenerated -- review and commit:" >&2
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "  " $3}' | sort -u >&2
  exit 1
fi
echo "generated files are up to date"
