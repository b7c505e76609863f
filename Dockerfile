# syntax=docker/dockerfile:1
# mcpfleet reference server: static binary on scratch, non-root.
#
#   docker build -t mcpfleet .                      (Cloud Run: add --platform linux/amd64)
#   docker run --rm -p 8080:8080 mcpfleet
#
# The build stage only needs a shell, mkdir, cp and go: it works with the
# official golang image and with a local stand-in (see scripts/image-check.sh).

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local

# Modules first, so that source edits reuse this layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
    go build -trimpath -ldflags='-s -w' -o /rootfs/mcpfleet ./cmd/mcpfleet

# What scratch lacks: a non-root user, CA certificates, a writable /tmp.
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp \
 && chmod 1777 /rootfs/tmp \
 && echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'nonroot:x:65532:' > /rootfs/etc/group \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt

FROM scratch
# One COPY of the tree keeps the modes of its directories (/tmp: 1777).
COPY --from=build /rootfs/ /
USER 65532:65532
ENV PORT=8080
EXPOSE 8080
# Docker and docker compose use this; Cloud Run uses its own probes
# (/readyz at start-up, /healthz for liveness).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/mcpfleet", "healthcheck"]
ENTRYPOINT ["/mcpfleet"]
