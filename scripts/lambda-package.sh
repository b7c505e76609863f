#!/usr/bin/env bash
# Builds the reference server (cmd/mcpfleet) for AWS Lambda and packages it:
#
#   scripts/lambda-package.sh            -> dist/mcpfleet-lambda-arm64.zip
#   GOARCH=amd64 scripts/lambda-package.sh -> dist/mcpfleet-lambda-amd64.zip
#
# The binary is static (CGO_ENABLED=0), built with -tags lambda.norpc (no
# net/rpc entry point: the provided.al2023 runtime talks to the Runtime API)
# and named bootstrap, as the provided.* runtimes require. The same binary
# serves Cloud Run or Docker when AWS_LAMBDA_RUNTIME_API is not set.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${GOARCH:-arm64}
out=${OUT:-dist/mcpfleet-lambda-$arch.zip}
dir=dist/lambda-$arch
mkdir -p "$dir" "$(dirname "$out")"
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -tags lambda.norpc -trimpath \
  -ldflags='-s -w -buildid=' -o "$dir/bootstrap" ./cmd/mcpfleet
go run ./internal/cmd/lambdazip -o "$out" "$dir/bootstrap"
printf '%s: bootstrap %s bytes, zip %s bytes\n' "$out" "$(stat -c %s "$dir/bootstrap")" "$(stat -c %s "$out")"
