#!/usr/bin/env bash
# End-to-end check of the telemetry against a real OpenTelemetry collector.
# Builds otelcol v0.165.0 (OTLP receiver, debug exporter, and the batch and
# memory_limiter processors the local stack uses) with the collector builder
# once and caches it outside the repository; checks that the local stack's
# deploy/otel-collector.yaml loads; starts the collector on loopback; then:
#
#  1. the telemetry package: `go test -tags e2e -run TestOTLPEndToEnd
#     ./telemetry/` with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the
#     collector (an MCP server behind HTTPMiddleware + MCPMiddleware, driven
#     by go-sdk's client: initialize, tools/call); checks the tools/call
#     span, its mcp.method.name attribute and mcp.server.operation.duration.
#  2. the reference server: `go build ./cmd/mcpfleet`, started with only
#     OTEL_EXPORTER_OTLP_ENDPOINT (and short export intervals) set, driven by
#     internal/cmd/e2eclient (go-sdk's client, a traceparent on every
#     request: initialize, tools/call convert_units, a failing call, an
#     unknown tool, DELETE), stopped with SIGTERM (it flushes while it
#     drains, and must exit 0). Checks, in what the collector received
#     during this phase only: the span "tools/call convert_units" in the
#     client's trace, mcp.method.name, mcp.server.operation.duration,
#     mcp.server.session.duration and the handler's mcpfleet.* metrics.
#
# Exits non-zero when something is missing; stops everything it started.
#
# Needs Go and, to build the collector the first time, the Go module proxy.
# Cache: $MCPFLEET_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/mcpfleet.
# OTEL_E2E_LOG=FILE keeps a copy of the collector's output.
set -euo pipefail
cd "$(dirname "$0")/.."

OTELCOL_VERSION=0.165.0
# The collector's components. The cache directory depends on them, so
# changing the list builds a new collector.
components="receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v$OTELCOL_VERSION
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor v$OTELCOL_VERSION
  - gomod: go.opentelemetry.io/collector/processor/memorylimiterprocessor v$OTELCOL_VERSION
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v$OTELCOL_VERSION"
flavor="$(printf '%s' "$components" | sha256sum | cut -c1-8)"
cache="${MCPFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpfleet}"
distdir="$cache/otelcol-$OTELCOL_VERSION-$flavor"
otelcol="$distdir/otelcol-mcpfleet"

step() { printf '\n==== %s\n' "$*"; }

work="$(mktemp -d)"
collector_pid=""
server_pid=""
cleanup() {
  local pid
  for pid in "$server_pid" "$collector_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
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
  if ! "$cache/bin/builder" version 2>/dev/null | grep -qF "v$OTELCOL_VERSION"; then
    GOBIN="$cache/bin" GOFLAGS=-mod=mod go install "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION"
  fi
  cat >"$work/builder.yaml" <<EOF
dist:
  name: otelcol-mcpfleet
  description: OTLP receiver, debug exporter, batch and memory_limiter processors for mcpfleet's telemetry e2e check
  output_path: $distdir
$components
EOF
  # The builder writes sources and go.mod under output_path and builds there.
  (cd "$work" && GOFLAGS=-mod=mod "$cache/bin/builder" --config "$work/builder.yaml")
  [ -x "$otelcol" ] || { echo "builder did not produce $otelcol" >&2; exit 1; }
fi

# --- The local stack's collector configuration must load.
step "validating deploy/otel-collector.yaml"
"$otelcol" validate --config deploy/otel-collector.yaml
echo "deploy/otel-collector.yaml: valid"

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

# --- check_received FROM_LINE WANT...: waits until the collector's output
# after line FROM_LINE holds every WANT (it prints before acknowledging, but
# give it a moment anyway); on failure prints what is missing, returns 1.
check_received() {
  local from="$1" w
  shift
  local missing=()
  for _ in $(seq 1 50); do
    missing=()
    for w in "$@"; do
      tail -n "+$((from + 1))" "$log" | grep -qF -- "$w" || missing+=("$w")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    sleep 0.2
  done
  echo "FAIL: the collector did not receive: ${missing[*]}" >&2
  echo "--- collector output (tail):" >&2
  tail -n 80 "$log" >&2
  return 1
}

# --- Phase 1: the telemetry package's instrumented server and go-sdk's client.
step "phase 1: go test -tags e2e -run TestOTLPEndToEnd ./telemetry/"
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$port" \
OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
OTEL_TRACES_EXPORTER=otlp OTEL_METRICS_EXPORTER=otlp \
OTEL_SDK_DISABLED=false \
  go test -tags e2e -count=1 -run '^TestOTLPEndToEnd$' -v ./telemetry/

step "phase 1: checking the collector's output"
check_received 0 \
  "tools/call get_weather" \
  "mcp.method.name" \
  "mcp.server.operation.duration" \
  "gen_ai.tool.name" \
  "tool_error" \
  "http.server.request.duration"
grep -m1 -F "Name           : tools/call get_weather" "$log" || true
echo "phase 1: OK"

# --- Phase 2: the reference server binary, driven by a real client.
step "phase 2: go build ./cmd/mcpfleet ./internal/cmd/e2eclient"
go build -o "$work/mcpfleet" ./cmd/mcpfleet
go build -o "$work/e2eclient" ./internal/cmd/e2eclient
mark="$(wc -l <"$log")"
trace_id="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
traceparent="00-$trace_id-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')-01"
server_log="$work/mcpfleet.log"

step "phase 2: starting mcpfleet, exporting to 127.0.0.1:$port"
# Nothing inherited: the machine's OTEL_*, REDIS_URL or K_SERVICE must not
# change what is checked. In-memory state; logs as local JSON lines.
env -i PATH="$PATH" \
  MCP_ADDR=127.0.0.1:0 \
  LOG_FORMAT=json \
  SHUTDOWN_GRACE=10s \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$port" \
  OTEL_METRIC_EXPORT_INTERVAL=500 \
  OTEL_BSP_SCHEDULE_DELAY=200 \
  "$work/mcpfleet" >"$server_log" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 1 150); do
  kill -0 "$server_pid" 2>/dev/null || break
  addr="$(grep -F '"msg":"cloudrun: serving"' "$server_log" | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' | head -n1 || true)"
  [ -n "$addr" ] && break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "FAIL: mcpfleet did not start; its log:" >&2
  cat "$server_log" >&2
  exit 1
fi
echo "mcpfleet serving on $addr (pid $server_pid); client trace $trace_id"

step "phase 2: driving it with internal/cmd/e2eclient"
if ! "$work/e2eclient" -url "http://$addr/mcp" -traceparent "$traceparent"; then
  echo "FAIL: the client did not get the expected answers; mcpfleet's log:" >&2
  cat "$server_log" >&2
  exit 1
fi

step "phase 2: SIGTERM (mcpfleet flushes its telemetry while it drains)"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
if [ "$rc" -ne 0 ]; then
  echo "FAIL: mcpfleet exited with status $rc after SIGTERM; its log:" >&2
  cat "$server_log" >&2
  exit 1
fi
if grep -F -e '"msg":"mcpfleet: telemetry not flushed"' -e '"msg":"opentelemetry"' "$server_log" >&2; then
  echo "FAIL: mcpfleet reported export errors (above)" >&2
  exit 1
fi

step "phase 2: checking the collector's output (after line $mark)"
check_received "$mark" \
  "Name           : tools/call convert_units" \
  "Trace ID       : $trace_id" \
  "mcp.method.name" \
  "gen_ai.tool.name: Str(convert_units)" \
  "tool_error" \
  "service.name: Str(mcpfleet)" \
  "mcp.server.operation.duration" \
  "mcp.server.session.duration" \
  "http.server.request.duration" \
  "mcpfleet.sse.active_streams" \
  "mcpfleet.store.operation.duration"
tail -n "+$((mark + 1))" "$log" | grep -m1 -F "Name           : tools/call convert_units" || true
echo "otel-e2e: OK (phase 1: telemetry package; phase 2: the mcpfleet binary: span 'tools/call convert_units' in the client's trace, mcp.method.name, mcp.server.operation.duration, mcpfleet.* metrics, received by otelcol $OTELCOL_VERSION)"
