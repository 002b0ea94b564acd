# InboxChat operator. `make test` is the one test command; `make run` runs the
# operator on a local control plane (or, with USE_EXISTING_CLUSTER=true, on the
# cluster of your current kubeconfig).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO ?= go
IMG ?= ghcr.io/inboxchat/inboxchat-operator:dev
KUBE_VERSION ?= 1.37.2
CONTROLLER_GEN := $(GO) tool controller-gen
# Where envtest's binaries are built and cached (setup-envtest's layout).
ENVTEST_ASSETS_DIR ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/kubebuilder-envtest/k8s/$(KUBE_VERSION)-$(shell $(GO) env GOOS)-$(shell $(GO) env GOARCH)
export ENVTEST_ASSETS_DIR KUBE_VERSION
# helm, built from its Go module pinned in hack/tools/go.mod (hack/helm.sh).
HELM ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/inboxchat-tools/helm-$(shell awk '$$1 == "helm.sh/helm/v3" {print $$2}' hack/tools/go.mod)/helm
TEST_TIMEOUT ?= 25m
# One package at a time: the envtest suites each start a control plane, and
# on 2 cores running them side by side only makes each slower.
TEST_FLAGS ?= -p 1
BENCH ?= .

.PHONY: all
all: build

##@ Development

.PHONY: manifests
manifests: ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=inboxchat-operator crd webhook paths="./api/...;./controllers/...;./internal/webhooks/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook

.PHONY: generate
generate: ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..."

.PHONY: fmt
fmt: ## Format the code.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Vet the code, and fail on files gofmt would change.
	$(GO) vet ./...
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted (run gofmt -w)"; exit 1; fi

.PHONY: verify-generated
verify-generated: ## Regenerate and fail when the committed generated files were stale.
	hack/verify-generated.sh

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd and kubectl from their Go modules (cached).
	@hack/controlplane.sh >/dev/null

.PHONY: helm
helm: ## Build helm from its Go module (cached).
	@hack/helm.sh >/dev/null

.PHONY: test
test: verify-generated vet envtest helm ## Run every test suite against the built control plane and real stores.
	@echo "envtest: $$("$(ENVTEST_ASSETS_DIR)/kube-apiserver" --version) and etcd $$("$(ENVTEST_ASSETS_DIR)/etcd" --version | head -1 | awk '{print $$3}') from $(ENVTEST_ASSETS_DIR)"
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" HELM="$(HELM)" $(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS)

.PHONY: bench
bench: envtest bench-tenants ## Run every benchmark (figures go in the README's performance section).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" $(GO) test ./... -p 1 -run '^$$' -bench '$(BENCH)' -benchmem -count=1 -timeout 90m

.PHONY: bench-tenants
bench-tenants: envtest ## 1,000 Tenants at once against the local control plane, beside its raw write floor.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" $(GO) run ./test/bench/tenants -tenants $(or $(TENANTS),1000) -operator-concurrency 32

##@ Build and run

.PHONY: build
build: ## Build the operator binary.
	$(GO) build -o bin/inboxchat-operator ./cmd

.PHONY: run
run: envtest ## Run the operator on a local control plane with the samples applied (Ctrl-C stops everything).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" $(GO) run ./hack/localrun

.PHONY: docker-build
docker-build: ## Build the container image.
	docker build -t $(IMG) .

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
