#!/usr/bin/env bash
# Offline checks of infra/terraform:
#   1. terraform fmt -check -recursive infra/terraform          (always)
#   2. with the google provider binary (no registry needed):
#      - terraform validate of the module infra/terraform/cloudrun
#      - terraform test of the module (mock provider, tests/*.tftest.hcl)
#      - terraform validate and terraform plan -refresh=false of
#        examples/basic with fake credentials, plus assertions on the plan
#        (secrets only as Secret Manager references, no public access by
#        default, probes, no Redis AUTH string in the container spec)
#
# The provider is not downloaded from a registry: it is a binary built from
# the Go module proxy (see shared/TOOLING.md), used through a CLI config with
# dev_overrides. It is looked for in $TF_PROVIDER_DIR (default
# /opt/tfproviders/google); with TF_BUILD_PROVIDERS=1 a missing one is built
# there (~4 min, 2 GB RAM). Without it, step 2 is skipped and said so.
# A missing terraform is built from the Go module proxy into $TF_BIN_DIR
# (default /opt/terraform/bin).
#
# Nothing is written into the repository: the Terraform tree is copied to a
# temporary directory for validate/plan/test.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
TF_ROOT=infra/terraform
MODULE=$TF_ROOT/cloudrun

TERRAFORM_VERSION=v1.11.4
# The same commit (35645b8fca68, tag v1.11.4) as a pseudo-version, for the
# nested modules terraform's go.mod replaces with local directories.
TERRAFORM_NESTED_VERSION=v0.0.0-20250409131005-35645b8fca68
GOOGLE_PROVIDER_MODULE=github.com/hashicorp/terraform-provider-google
# Pseudo-version of the 8.0.0 source; the proxy does not serve the v8 tags.
GOOGLE_PROVIDER_VERSION=v1.20.1-0.20260828184646-f3721fb45fa3
TF_PROVIDER_DIR=${TF_PROVIDER_DIR:-/opt/tfproviders/google}
TF_BIN_DIR=${TF_BIN_DIR:-/opt/terraform/bin}

RAN=()
SKIPPED=()
step() { printf '\n== %s\n' "$*"; }
ran() { RAN+=("$1"); }
skipped() { SKIPPED+=("$1"); printf 'SKIPPED: %s\n' "$1"; }
summary() {
  printf '\n== summary\n'
  for r in "${RAN[@]}"; do printf 'ran:     %s\n' "$r"; done
  for s in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do printf 'skipped: %s\n' "$s"; done
}

# ---- terraform ----
# `go install github.com/hashicorp/terraform@v1.11.4` is refused: terraform's
# go.mod replaces nested modules (remote-state backends, internal/legacy) with
# local directories, which the module zip does not contain. So build it as the
# main module from the proxy's source, with those nested modules taken from the
# proxy at the same commit.
install_terraform() {
  local src work m
  src=$(cd /tmp && go mod download -json "github.com/hashicorp/terraform@$TERRAFORM_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d)
  cp -r "$src/." "$work"
  chmod -R u+w "$work"
  (
    cd "$work"
    for m in $(go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"].startswith("./"):
        print(r["Old"]["Path"])'); do
      go mod edit -dropreplace="$m" -require="$m@$TERRAFORM_NESTED_VERSION"
    done
    # A setting newer Go releases no longer know (Go 1.23 only).
    go mod edit -dropgodebug=tlskyber
    GOFLAGS=-mod=mod GONOSUMDB=github.com/hashicorp/terraform GOTOOLCHAIN=local CGO_ENABLED=0 \
      go build -trimpath -ldflags "-s -w -X github.com/hashicorp/terraform/version.dev=no" \
      -o "$TF_BIN_DIR/terraform" .
  )
  rm -rf "$work"
}

if ! command -v terraform >/dev/null; then
  if [[ ! -x $TF_BIN_DIR/terraform ]]; then
    step "terraform not found: building $TERRAFORM_VERSION from the Go module proxy into $TF_BIN_DIR (~3 min)"
    mkdir -p "$TF_BIN_DIR"
    install_terraform
  fi
  PATH=$TF_BIN_DIR:$PATH
fi
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# An empty CLI config: no ~/.terraformrc warning, no registry mirrors.
printf '' >"$WORK/empty.tfrc"
export TF_CLI_CONFIG_FILE=$WORK/empty.tfrc
terraform version | head -1

# ---- 1. fmt ----
step "terraform fmt -check -recursive $TF_ROOT"
terraform fmt -check -recursive -diff "$TF_ROOT"
ran "terraform fmt -check -recursive $TF_ROOT"

# ---- provider ----
if [[ ! -x $TF_PROVIDER_DIR/terraform-provider-google ]]; then
  if [[ ${TF_BUILD_PROVIDERS:-} == 1 ]]; then
    step "building the google provider ($GOOGLE_PROVIDER_VERSION) into $TF_PROVIDER_DIR (~4 min)"
    mkdir -p "$TF_PROVIDER_DIR"
    (cd /tmp && GOFLAGS=-mod=mod GOBIN=$TF_PROVIDER_DIR go install "$GOOGLE_PROVIDER_MODULE@$GOOGLE_PROVIDER_VERSION")
  else
    skipped "terraform validate / test / plan: no provider at $TF_PROVIDER_DIR/terraform-provider-google (run with TF_BUILD_PROVIDERS=1 to build it)"
    summary
    exit 0
  fi
fi

cat >"$WORK/dev.tfrc" <<EOF
provider_installation {
  dev_overrides {
    "hashicorp/google" = "$TF_PROVIDER_DIR"
  }
  direct {}
}
EOF
export TF_CLI_CONFIG_FILE=$WORK/dev.tfrc
# dev_overrides print a warning on every command; it is expected here.
quiet() {
  "$@" 2>&1 | awk '/^Warning: Provider development overrides are in effect/ {skip=1} skip && /^releases\.$/ {skip=0; next} !skip'
  return "${PIPESTATUS[0]}"
}

cp -r "$MODULE" "$WORK/cloudrun"
rm -rf "$WORK"/cloudrun/.terraform "$WORK"/cloudrun/examples/*/.terraform

# ---- 2a. module ----
step "terraform validate ($MODULE)"
(cd "$WORK/cloudrun" && quiet terraform validate -no-color)
ran "terraform validate $MODULE"

step "terraform test ($MODULE, mock provider)"
(cd "$WORK/cloudrun" && quiet terraform test -no-color)
ran "terraform test $MODULE"

# ---- 2b. example root ----
EX=$WORK/cloudrun/examples/basic
# Fake credentials, only in the temporary copy. universe_domain keeps the
# provider from retrying unreachable Google endpoints for minutes.
cat >"$EX/offline_override.tf" <<'EOF'
provider "google" {
  access_token    = "fake"
  universe_domain = "offline.invalid"
}
EOF

step "terraform get + validate ($MODULE/examples/basic)"
(cd "$EX" && quiet terraform get -no-color >/dev/null && quiet terraform validate -no-color)
ran "terraform validate $MODULE/examples/basic"

step "terraform plan -refresh=false ($MODULE/examples/basic, fake credentials)"
(cd "$EX" && quiet terraform plan -refresh=false -lock=false -no-color -out=plan.tfplan \
  -var project_id=offline-project \
  -var image=europe-west1-docker.pkg.dev/offline-project/mcpfleet/mcpfleet:check) | tail -n 40
ran "terraform plan -refresh=false $MODULE/examples/basic"

step "assertions on the plan"
(cd "$EX" && terraform show -json plan.tfplan 2>/dev/null) | python3 -c '
import json, sys
plan = json.load(sys.stdin)
rc = {r["address"]: r for r in plan["resource_changes"]}
def after(addr):
    return rc[addr]["change"]["after"]
fails = []
def check(cond, msg):
    print(("ok:   " if cond else "FAIL: ") + msg)
    if not cond:
        fails.append(msg)

svc = after("module.mcpfleet.google_cloud_run_v2_service.this")
tmpl = svc["template"][0]
ctr = tmpl["containers"][0]
env = {e["name"]: e for e in ctr["env"]}
for name in ("REDIS_PASSWORD", "MCP_STATE_KEY"):
    e = env.get(name, {})
    check(e.get("value") in (None, "") and e.get("value_source") and e["value_source"][0]["secret_key_ref"][0]["version"] == "latest",
          f"{name} comes from Secret Manager (value_source.secret_key_ref), not a literal")
check("PORT" not in env, "PORT is left to Cloud Run")
check(env.get("REDIS_TLS_CA_FILE", {}).get("value") == "/secrets/redis-ca/ca.pem", "REDIS_TLS_CA_FILE points at the mounted CA secret")
check(ctr["startup_probe"][0]["http_get"][0]["path"] == "/readyz", "startup probe on /readyz")
check(ctr["liveness_probe"][0]["http_get"][0]["path"] == "/healthz", "liveness probe on /healthz")
check(tmpl["vpc_access"][0]["network_interfaces"] and not tmpl["vpc_access"][0].get("connector"), "Direct VPC egress (network interface, no connector)")
check(tmpl["session_affinity"] is False, "no session affinity")
check(tmpl["scaling"][0]["max_instance_count"] == 5 and tmpl["max_instance_request_concurrency"] == 250, "scaling and concurrency from the example")
check(tmpl["timeout"] == "3600s", "request timeout 3600s")
check(not any(r["type"] == "google_cloud_run_v2_service_iam_member" and (r["change"]["after"] or {}).get("member") == "allUsers" for r in rc.values()),
      "no allUsers invoker by default (allow_unauthenticated = false)")
roles = sorted((r["change"]["after"] or {}).get("role") for r in rc.values() if r["type"] == "google_project_iam_member")
check(roles == ["roles/cloudtrace.agent", "roles/logging.logWriter", "roles/monitoring.metricWriter"], f"project roles of the service account are telemetry only: {roles}")
acc = [r for r in rc.values() if r["type"] == "google_secret_manager_secret_iam_member"]
check(len(acc) == 3 and all(r["change"]["after"]["role"] == "roles/secretmanager.secretAccessor" for r in acc), "secretAccessor on exactly the 3 secrets it reads")
redis = after("module.mcpfleet.google_redis_instance.this[0]")
check(redis["auth_enabled"] and redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION", "Memorystore with AUTH and TLS")
outs = json.dumps(plan.get("planned_values", {}).get("outputs", {}))
check("auth_string" not in outs, "no AUTH string among the outputs")
sys.exit(1 if fails else 0)
'
ran "plan assertions (secrets, probes, IAM, networking)"

summary
