#!/usr/bin/env bash
# The whole test suite: formatting, vet, Go tests with the race detector
# (real redis-server processes, started by the tests themselves), the
# official MCP conformance suite against a 3-instance fleet and a single
# process, and the Terraform checks that run offline.
#
# Needs Go; installs redis-server and npm with apt-get when missing (Node 22
# and the pinned conformance suite come from npm, see
# scripts/conformance.sh); Terraform checks build what they need from the Go
# module proxy (scripts/terraform-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==== %s\n' "$*"; }

# Set-up: install what a fresh Debian machine lacks (as root via apt-get).
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

step "go vet"
go vet ./...

step "go test -race"
go test -race -count=1 -timeout 20m ./...

step "MCP conformance suite (fleet of 3 with Redis, and single process)"
scripts/conformance.sh all

step "OpenTelemetry end to end (real collector, reference server)"
scripts/otel-e2e.sh

step "Lambda cold start (bootstrap binary on a local Runtime API)"
scripts/lambda-coldstart.sh

if [ -x scripts/terraform-check.sh ]; then
  step "Terraform"
  scripts/terraform-check.sh
fi
