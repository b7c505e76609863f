#!/usr/bin/env bash
# End-to-end check of the telemetry package against a real OpenTelemetry
# collector: builds otelcol (OTLP receiver + debug exporter, v0.165.0) with
# the collector builder once, caches it outside the repository, starts it on
# loopback, runs `go test -tags e2e -run TestOTLPEndToEnd ./telemetry/` with
# OTEL_EXPORTER_OTLP_ENDPOINT pointing at it (an MCP server behind
# HTTPMiddleware + MCPMiddleware, driven by go-sdk's client: initialize,
# tools/call), and checks that the collector printed the tools/call span,
# its mcp.method.name attribute and the mcp.server.operation.duration
# metric. Exits non-zero when something is missing; stops what it started.
#
# Needs Go and the Go module proxy. Cache: $MCPFLEET_CACHE, default
# ${XDG_CACHE_HOME:-~/.cache}/mcpfleet. OTEL_E2E_LOG=FILE keeps a copy of
# the collector's output.
set -euo pipefail
cd "$(dirname "$0")/.."

OTELCOL_VERSION=0.165.0
cache="${MCPFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpfleet}"
distdir="$cache/otelcol-$OTELCOL_VERSION"
otelcol="$distdir/otelcol-mcpfleet"

step() { printf '\n==== %s\n' "$*"; }

work="$(mktemp -d)"
collector_pid=""
cleanup() {
  if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
    kill "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
  fi
  if [ -n "${OTEL_E2E_LOG:-}" ] && [ -f "$work/collector.log" ]; then
    cp "$work/collector.log" "$OTEL_E2E_LOG"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- Build the collector once.
if [ ! -x "$otelcol" ]; then
  step "building otelcol $OTELCOL_VERSION into $distdir (once)"
  mkdir -p "$cache/bin" "$distdir"
  GOBIN="$cache/bin" GOFLAGS=-mod=mod go install "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION"
  cat >"$work/builder.yaml" <<EOF
dist:
  name: otelcol-mcpfleet
  description: OTLP receiver and debug exporter for mcpfleet's telemetry e2e check
  output_path: $distdir
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v$OTELCOL_VERSION
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v$OTELCOL_VERSION
EOF
  # The builder writes sources and go.mod under output_path and builds there.
  (cd "$work" && GOFLAGS=-mod=mod "$cache/bin/builder" --config "$work/builder.yaml")
  [ -x "$otelcol" ] || { echo "builder did not produce $otelcol" >&2; exit 1; }
fi

# --- A free loopback port (probe with bash's /dev/tcp: refused means free).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# --- Start the collector on loopback; retry if the port was taken meanwhile.
log="$work/collector.log"
port=""
for attempt in 1 2 3; do
  port="$(free_port)"
  cat >"$work/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$port
exporters:
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      exporters: [debug]
EOF
  step "starting otelcol on 127.0.0.1:$port (attempt $attempt)"
  "$otelcol" --config "$work/config.yaml" >"$log" 2>&1 &
  collector_pid=$!
  ready=""
  for _ in $(seq 1 150); do
    if ! kill -0 "$collector_pid" 2>/dev/null; then break; fi
    if grep -q "Everything is ready" "$log" && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      ready=1
      break
    fi
    sleep 0.2
  done
  if [ -n "$ready" ]; then break; fi
  echo "collector did not start:" >&2
  tail -n 20 "$log" >&2
  kill "$collector_pid" 2>/dev/null || true
  wait "$collector_pid" 2>/dev/null || true
  collector_pid=""
done
[ -n "$collector_pid" ] || { echo "giving up on the collector" >&2; exit 1; }

# --- Run the instrumented server and client against it.
step "go test -tags e2e -run TestOTLPEndToEnd ./telemetry/"
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$port" \
OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
OTEL_TRACES_EXPORTER=otlp OTEL_METRICS_EXPORTER=otlp \
OTEL_SDK_DISABLED=false \
  go test -tags e2e -count=1 -run '^TestOTLPEndToEnd$' -v ./telemetry/

# --- Check what the collector printed (it prints before acknowledging, but
# give it a moment anyway).
step "checking the collector's output"
want=(
  "tools/call get_weather"
  "mcp.method.name"
  "mcp.server.operation.duration"
  "gen_ai.tool.name"
  "tool_error"
  "http.server.request.duration"
)
missing=()
for _ in $(seq 1 50); do
  missing=()
  for w in "${want[@]}"; do
    grep -qF -- "$w" "$log" || missing+=("$w")
  done
  [ ${#missing[@]} -eq 0 ] && break
  sleep 0.2
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "FAIL: the collector did not receive: ${missing[*]}" >&2
  echo "--- collector output (tail):" >&2
  tail -n 80 "$log" >&2
  exit 1
fi
grep -m1 -F "Name           : tools/call get_weather" "$log" || true
grep -m1 -F "mcp.server.operation.duration" "$log" || true
echo "otel-e2e: OK (span 'tools/call get_weather', mcp.method.name, mcp.server.operation.duration received by otelcol $OTELCOL_VERSION)"
