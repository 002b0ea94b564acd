# The one image of the InboxChat operator: /inboxchat-operator runs the
# manager by default and the worker subcommands (broadcast, erase, notify,
# prune, offboard, migrate, unsubscribe) that the controllers start as Jobs
# and Deployments in tenant namespaces with this same image.
#
#   make docker-build IMG=ghcr.io/inboxchat/inboxchat-operator:v0.1.0
#
# Needs BuildKit (the default builder of Docker 23 and later) for the cache
# mounts. test/dockerfile checks this file against the Makefile, go.mod and
# the controllers.

FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
# Build with the Go of the image, never a toolchain downloaded at build time.
ENV GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /inboxchat-operator ./cmd

# distroless static: no shell, no package manager, CA certificates and
# tzdata only; the nonroot variant's user is 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /inboxchat-operator /inboxchat-operator
# Numeric, so that the kubelet can enforce runAsNonRoot (Pod Security restricted).
USER 65532:65532
ENTRYPOINT ["/inboxchat-operator"]
