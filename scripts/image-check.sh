#!/usr/bin/env bash
# Builds the container image with podman and checks it:
#   - the image runs as 65532:65532, exposes 8080, has a HEALTHCHECK,
#     and holds only the expected files (no sources, no secrets);
#   - the running process is not root;
#   - /healthz, /readyz, the image's own HEALTHCHECK and an MCP initialize
#     POST on /mcp answer;
#   - SIGTERM (podman stop) ends it with exit code 0;
#   - prints the image size.
#
# Works offline: no registry is contacted (--pull=never). When the build base
# golang:$GO_VERSION is not in local storage, a stand-in is imported from the
# machine's /usr/local/go plus a static busybox and CA certificates. The
# build reaches the Go module proxy through the host network.
#
# Environment:
#   IMAGE              tag to build (default localhost/mcpfleet:check)
#   GO_VERSION         build stage tag (default 1.26)
#   IMAGE_CHECK_MAIN   a main.go to build as cmd/mcpfleet when the repository
#                      has none yet (copied into a temporary build context;
#                      the repository is not touched)
#   PODMAN             podman command (default: podman with the flags this
#                      machine needs: vfs storage, cgroupfs, runc)
#   KEEP_IMAGE=1       keep the image afterwards
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
IMAGE=${IMAGE:-localhost/mcpfleet:check}
GO_VERSION=${GO_VERSION:-1.26}
CTR=mcpfleet-image-check-$$

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  say "installing podman, buildah, runc (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc >/dev/null
fi
if [[ -z ${PODMAN:-} ]]; then
  PODMAN="podman --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc"
fi
P() { $PODMAN "$@"; }
RUNFLAGS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

# ---- build base ----
BASE=docker.io/library/golang:$GO_VERSION
if P image exists "$BASE"; then
  say "build base $BASE: present"
else
  say "build base $BASE: importing a stand-in from /usr/local/go"
  command -v go >/dev/null || fail "no local Go toolchain to import"
  if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
  fi
  R=$(mktemp -d)
  mkdir -p "$R"/bin "$R"/etc/ssl/certs "$R"/tmp "$R"/root "$R"/go "$R"/usr/local
  chmod 1777 "$R"/tmp
  cp /bin/busybox "$R"/bin/busybox
  for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -s busybox "$R/bin/$a"; done
  cp /etc/ssl/certs/ca-certificates.crt "$R"/etc/ssl/certs/
  echo 'root:x:0:0:root:/root:/bin/sh' >"$R"/etc/passwd
  echo 'root:x:0:' >"$R"/etc/group
  cp -a "$(go env GOROOT)" "$R"/usr/local/go
  tar -C "$R" -c . | P import \
    --change 'ENV PATH=/go/bin:/usr/local/go/bin:/bin' --change 'ENV GOPATH=/go' \
    --change 'ENV HOME=/root' --change 'ENV GOTOOLCHAIN=local' --change 'WORKDIR /go' \
    - "$BASE" >/dev/null
  rm -rf "$R"
fi

# ---- build context ----
CONTEXT=$ROOT
if [[ ! -f cmd/mcpfleet/main.go ]]; then
  [[ -n ${IMAGE_CHECK_MAIN:-} ]] || fail "cmd/mcpfleet/main.go does not exist yet; set IMAGE_CHECK_MAIN=/path/to/main.go to build a stand-in"
  CONTEXT=$(mktemp -d)
  say "cmd/mcpfleet missing: building stand-in $IMAGE_CHECK_MAIN in $CONTEXT"
  tar -C "$ROOT" --exclude=.git -c . | tar -C "$CONTEXT" -x
  mkdir -p "$CONTEXT"/cmd/mcpfleet
  cp "$IMAGE_CHECK_MAIN" "$CONTEXT"/cmd/mcpfleet/main.go
fi

say "podman build -t $IMAGE (--pull=never --network host --format docker)"
start=$(date +%s)
P build --pull=never --network host --format docker --build-arg GO_VERSION="$GO_VERSION" -t "$IMAGE" "$CONTEXT"
echo "built in $(($(date +%s) - start))s"
[[ $CONTEXT == "$ROOT" ]] || rm -rf "$CONTEXT"

cleanup() {
  P rm -f "$CTR" >/dev/null 2>&1 || true
  [[ ${KEEP_IMAGE:-} == 1 ]] || P rmi -f "$IMAGE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# ---- static checks ----
say "image metadata"
user=$(P image inspect --format '{{.Config.User}}' "$IMAGE")
ports=$(P image inspect --format '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' "$IMAGE")
hc=$(P image inspect --format '{{if .Config.Healthcheck}}{{json .Config.Healthcheck.Test}}{{end}}' "$IMAGE")
entry=$(P image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE")
echo "user=$user exposed=$ports entrypoint=$entry healthcheck=$hc"
[[ $user == 65532:65532 ]] || fail "image user is '$user', want 65532:65532"
[[ $ports == *8080/tcp* ]] || fail "port 8080 not exposed"
[[ $hc == '["CMD","/mcpfleet","healthcheck"]' ]] || fail "HEALTHCHECK is '$hc'"

say "image files (anything else would be a leak)"
tmpctr=$(P create --no-healthcheck "$IMAGE")
listing=$(P export "$tmpctr" | tar -tv)
P rm "$tmpctr" >/dev/null
files=$(echo "$listing" | awk '{print $NF}' | sed 's|^\./||; s|/$||' | grep -v '^$' | sort)
tmpmode=$(echo "$listing" | awk '$NF ~ /^(\.\/)?tmp\/?$/ {print $1}')
[[ $tmpmode == drwxrwxrwt ]] || fail "/tmp mode is '$tmpmode', want drwxrwxrwt"
echo "$files" | sed 's/^/  /'
unexpected=$(echo "$files" | grep -v -x -E 'mcpfleet|etc|etc/passwd|etc/group|etc/ssl|etc/ssl/certs|etc/ssl/certs/ca-certificates.crt|tmp|dev|proc|sys|run|etc/hosts|etc/resolv.conf|etc/hostname|run/.containerenv' || true)
[[ -z $unexpected ]] || fail "unexpected files in the image: $unexpected"

# ---- run ----
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "podman run (host network, PORT=$PORT)"
# --no-healthcheck: podman would schedule the HEALTHCHECK with systemd timers,
# which this machine lacks; the check is run by hand below.
P run -d --name "$CTR" --no-healthcheck --network host -e PORT="$PORT" -e LOG_FORMAT=json "${RUNFLAGS[@]}" "$IMAGE" >/dev/null
base=http://127.0.0.1:$PORT
for _ in $(seq 50); do
  curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && break
  sleep 0.2
done

pid=$(P inspect --format '{{.State.Pid}}' "$CTR")
uid=$(awk '/^Uid:/ {print $2 ":" $3}' /proc/"$pid"/status)
gid=$(awk '/^Gid:/ {print $2}' /proc/"$pid"/status)
echo "process $pid runs as uid(real:effective)=$uid gid=$gid"
[[ $uid == 65532:65532 && $gid == 65532 ]] || fail "process is not 65532:65532"

say "GET /healthz, /readyz"
h=$(curl -fsS "$base/healthz") || fail "/healthz"
r=$(curl -fsS "$base/readyz") || fail "/readyz"
echo "healthz: $h   readyz: $r"
[[ $h == ok && $r == ready ]] || fail "health answers"

say "the image's HEALTHCHECK (/mcpfleet healthcheck) inside the container"
P exec "$CTR" /mcpfleet healthcheck && echo "healthcheck exit 0" || fail "healthcheck exited non-zero"
P exec "$CTR" /mcpfleet healthcheck -addr 127.0.0.1:1 2>/dev/null && fail "healthcheck against a closed port exited 0" || echo "healthcheck against a closed port: non-zero (good)"

say "MCP initialize POST /mcp"
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"image-check","version":"0"}}}'
resp=$(curl -sS -i -X POST "$base/mcp" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' --data "$init") || fail "POST /mcp"
echo "$resp" | sed 's/^/  /' | head -20
echo "$resp" | head -1 | grep -q ' 200' || fail "initialize status"
echo "$resp" | grep -q '"serverInfo"' || fail "initialize result has no serverInfo"

say "podman stop (SIGTERM) -> clean drain, exit 0"
P stop -t 15 "$CTR" >/dev/null
code=$(P inspect --format '{{.State.ExitCode}}' "$CTR")
P logs "$CTR" 2>&1 | tail -4 | sed 's/^/  /'
[[ $code == 0 ]] || fail "exit code $code after SIGTERM"
echo "exit code 0"

say "image size"
bytes=$(P image inspect --format '{{.Size}}' "$IMAGE")
echo "$IMAGE: $bytes bytes ($(numfmt --to=iec-i --suffix=B "$bytes"))"
echo
echo "image-check: all checks passed"
