#!/usr/bin/env bash
# Prints the cold start of the Lambda bootstrap binary: process start to the
# first byte of the response to an MCP initialize, through internal/lambdaemu
# (a local Lambda Runtime API and function URL), median of several runs.
#
#   scripts/lambda-coldstart.sh            15 runs, in-memory state, telemetry off
#   RUNS=30 scripts/lambda-coldstart.sh -env REDIS_URL=redis://127.0.0.1:6379
#
# The binary is built as scripts/lambda-package.sh builds it, for this
# machine's architecture (the arm64 one cannot run here). Extra arguments go
# to internal/cmd/coldstart (-env KEY=VALUE, -mode buffered, -v, ...).
# It reports figures; it does not judge them (timings vary with the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o "$work/bootstrap" ./cmd/mcpfleet
go build -o "$work/coldstart" ./internal/cmd/coldstart
"$work/coldstart" -bootstrap "$work/bootstrap" -runs "${RUNS:-15}" -env OTEL_SDK_DISABLED=true "$@"
