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
#   3. with the aws and random provider binaries:
#      - terraform validate of the module infra/terraform/lambda
#      - terraform test of the module (mock aws provider, real random)
#      - terraform validate and terraform plan -refresh=false of
#        examples/basic with fake credentials and no network, plus assertions
#        on the plan (streaming function URL with AWS_IAM, provided.al2023 on
#        arm64, JSON logs, no secret value anywhere, security groups, IAM)
#
# Providers are not downloaded from a registry: they are binaries built from
# the Go module proxy (see shared/TOOLING.md), used through a CLI config with
# dev_overrides. They are looked for in $TF_PROVIDER_DIR (google, default
# /opt/tfproviders/google), $TF_AWS_PROVIDER_DIR (default /opt/tfproviders/aws)
# and $TF_RANDOM_PROVIDER_DIR (default /opt/tfproviders/random). With
# TF_BUILD_PROVIDERS=1 a missing google (~4 min, 2 GB RAM) or random (~1 min
# from a cold module cache, ~0.4 GB RAM, 26 MB binary) provider is built
# there. The aws provider is never built here, not even with
# TF_BUILD_PROVIDERS=1: it takes ~23 min and ~12 GB of RAM and makes a 1.3 GB
# binary, too much for the 90-minute CI job next to everything else; build it
# once beforehand (shared/TOOLING.md) or step 3 is skipped. A step whose
# provider is missing is skipped and said so in the summary.
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
LAMBDA_MODULE=$TF_ROOT/lambda

TERRAFORM_VERSION=v1.11.4
# The same commit (35645b8fca68, tag v1.11.4) as a pseudo-version, for the
# nested modules terraform's go.mod replaces with local directories.
TERRAFORM_NESTED_VERSION=v0.0.0-20250409131005-35645b8fca68
GOOGLE_PROVIDER_MODULE=github.com/hashicorp/terraform-provider-google
# Pseudo-version of the 8.0.0 source; the proxy does not serve the v8 tags.
GOOGLE_PROVIDER_VERSION=v1.20.1-0.20260828184646-f3721fb45fa3
TF_PROVIDER_DIR=${TF_PROVIDER_DIR:-/opt/tfproviders/google}
TF_AWS_PROVIDER_DIR=${TF_AWS_PROVIDER_DIR:-/opt/tfproviders/aws}
TF_RANDOM_PROVIDER_DIR=${TF_RANDOM_PROVIDER_DIR:-/opt/tfproviders/random}
# The module path in the random provider's go.mod (the hashicorp/ path is
# refused), at its newest pseudo-version on the proxy (3.9.0 source).
RANDOM_PROVIDER_MODULE=github.com/terraform-providers/terraform-provider-random
RANDOM_PROVIDER_VERSION=v1.3.2-0.20260824155315-e1092b0cfc07
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
# sed, not head: head would exit early and SIGPIPE fail the pipeline under pipefail.
terraform version | sed -n 1p

# ---- 1. fmt ----
step "terraform fmt -check -recursive $TF_ROOT"
terraform fmt -check -recursive -diff "$TF_ROOT"
ran "terraform fmt -check -recursive $TF_ROOT"

# dev_overrides print a warning on every command; it is expected here.
quiet() {
  "$@" 2>&1 | awk '/^Warning: Provider development overrides are in effect/ {skip=1} skip && /^releases\.$/ {skip=0; next} !skip'
  return "${PIPESTATUS[0]}"
}

# ---- 2. Cloud Run module (google provider) ----
check_cloudrun() {
# ---- provider ----
if [[ ! -x $TF_PROVIDER_DIR/terraform-provider-google ]]; then
  if [[ ${TF_BUILD_PROVIDERS:-} == 1 ]]; then
    step "building the google provider ($GOOGLE_PROVIDER_VERSION) into $TF_PROVIDER_DIR (~4 min)"
    mkdir -p "$TF_PROVIDER_DIR"
    (cd /tmp && GOFLAGS=-mod=mod GOBIN=$TF_PROVIDER_DIR go install "$GOOGLE_PROVIDER_MODULE@$GOOGLE_PROVIDER_VERSION")
  else
    skipped "terraform validate / test / plan of $MODULE: no provider at $TF_PROVIDER_DIR/terraform-provider-google (run with TF_BUILD_PROVIDERS=1 to build it)"
    return 0
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
}

# ---- 3. Lambda module (aws + random providers) ----
check_lambda() {
  if [[ ! -x $TF_AWS_PROVIDER_DIR/terraform-provider-aws ]]; then
    # Not built here even with TF_BUILD_PROVIDERS=1: ~23 min, ~12 GB RAM.
    skipped "terraform validate / test / plan of $LAMBDA_MODULE: no provider at $TF_AWS_PROVIDER_DIR/terraform-provider-aws (not built by this script: ~23 min and ~12 GB RAM; build it beforehand, see shared/TOOLING.md)"
    return 0
  fi
  if [[ ! -x $TF_RANDOM_PROVIDER_DIR/terraform-provider-random ]]; then
    if [[ ${TF_BUILD_PROVIDERS:-} == 1 ]]; then
      step "building the random provider ($RANDOM_PROVIDER_VERSION) into $TF_RANDOM_PROVIDER_DIR (~1 min)"
      mkdir -p "$TF_RANDOM_PROVIDER_DIR"
      (cd /tmp && GOFLAGS=-mod=mod GOBIN=$TF_RANDOM_PROVIDER_DIR go install "$RANDOM_PROVIDER_MODULE@$RANDOM_PROVIDER_VERSION")
    else
      skipped "terraform validate / test / plan of $LAMBDA_MODULE: no provider at $TF_RANDOM_PROVIDER_DIR/terraform-provider-random (run with TF_BUILD_PROVIDERS=1 to build it)"
      return 0
    fi
  fi

  cat >"$WORK/dev-lambda.tfrc" <<EOF
provider_installation {
  dev_overrides {
    "hashicorp/aws"    = "$TF_AWS_PROVIDER_DIR"
    "hashicorp/random" = "$TF_RANDOM_PROVIDER_DIR"
  }
  direct {}
}
EOF
  export TF_CLI_CONFIG_FILE=$WORK/dev-lambda.tfrc

  cp -r "$LAMBDA_MODULE" "$WORK/lambda"
  rm -rf "$WORK"/lambda/.terraform "$WORK"/lambda/examples/*/.terraform "$WORK"/lambda/examples/*/terraform.tfstate*

  # ---- 3a. module ----
  step "terraform validate ($LAMBDA_MODULE)"
  (cd "$WORK/lambda" && quiet terraform validate -no-color)
  ran "terraform validate $LAMBDA_MODULE"

  step "terraform test ($LAMBDA_MODULE, mock aws provider)"
  (cd "$WORK/lambda" && quiet terraform test -no-color)
  ran "terraform test $LAMBDA_MODULE"

  # ---- 3b. example root ----
  local ex=$WORK/lambda/examples/basic
  # Fake credentials, only in the temporary copy: no STS, IAM or instance
  # metadata calls; a single try if anything were called anyway.
  cat >"$ex/offline_override.tf" <<'EOF'
provider "aws" {
  access_key                  = "fake"
  secret_key                  = "fake"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  max_retries                 = 1
}
EOF
  # The deployment package (scripts/lambda-package.sh) need not exist: plan
  # hashes a stand-in.
  python3 -c '
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr(zipfile.ZipInfo("bootstrap"), "#!/bin/sh\necho stand-in for terraform plan\n")
' "$WORK/fake-lambda.zip"

  step "terraform get + validate ($LAMBDA_MODULE/examples/basic)"
  (cd "$ex" && quiet terraform get -no-color >/dev/null && quiet terraform validate -no-color)
  ran "terraform validate $LAMBDA_MODULE/examples/basic"

  # A proxy that refuses every connection: the plan must not need the network.
  local plan_vars=(
    -var vpc_id=vpc-0123456789abcdef0
    -var 'private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1","subnet-0bbbbbbbbbbbbbbb2"]'
    -var "lambda_zip=$WORK/fake-lambda.zip"
  )
  step "terraform plan -refresh=false ($LAMBDA_MODULE/examples/basic, fake credentials, no network)"
  (cd "$ex" && HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY= \
    quiet terraform plan -refresh=false -lock=false -no-color -out=plan.tfplan "${plan_vars[@]}") | awk '/^Plan:|Error|│/ {print "default:", $0}'
  (cd "$ex" && HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY= \
    quiet terraform plan -refresh=false -lock=false -no-color -out=public.tfplan "${plan_vars[@]}" \
    -var authorization_type=NONE) | awk '/^Plan:|Error|│/ {print "NONE:   ", $0}'
  ran "terraform plan -refresh=false $LAMBDA_MODULE/examples/basic (AWS_IAM and NONE)"

  step "assertions on the plans"
  (cd "$ex" && terraform show -json plan.tfplan 2>/dev/null >plan.json &&
    terraform show -json public.tfplan 2>/dev/null >public.json &&
    python3 - plan.json public.json <<'EOF'
import json, re, sys
plan, public = (json.load(open(f)) for f in sys.argv[1:3])
fails = []
def check(cond, msg):
    print(("ok:   " if cond else "FAIL: ") + msg)
    if not cond:
        fails.append(msg)

M = "module.mcpfleet."
def changes(p):
    return {r["address"]: r for r in p["resource_changes"]}
rc = changes(plan)
def after(addr, p=None):
    return (changes(p) if p else rc)[M + addr]["change"]["after"]
def unknown(addr):
    return rc[M + addr]["change"]["after_unknown"]
conf = {r["address"]: r for r in plan["configuration"]["root_module"]["module_calls"]["mcpfleet"]["module"]["resources"]}
def refs(addr, attr):
    return conf[addr]["expressions"].get(attr, {}).get("references", [])
def of_type(t, p=None):
    return [r for r in (changes(p) if p else rc).values() if r["type"] == t]

# ---- function ----
fn = after("aws_lambda_function.this")
check(fn["runtime"] == "provided.al2023" and fn["handler"] == "bootstrap", "runtime provided.al2023, handler bootstrap")
check(fn["architectures"] == ["arm64"], "architecture arm64")
check(fn["timeout"] == 300 and fn["timeout"] <= 900, "timeout 300 s (<= 900)")
vpc_refs = conf["aws_lambda_function.this"]["expressions"]["vpc_config"][0]["security_group_ids"]["references"]
check(sorted(fn["vpc_config"][0]["subnet_ids"]) == ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]
      and [r for r in vpc_refs if r.count(".") == 2] == ["aws_security_group.function.id"],
      "function in the private subnets with its own security group only")
check(fn["tracing_config"][0]["mode"] == "PassThrough", "no active X-Ray tracing by default")
lc = fn["logging_config"][0]
check(lc["log_format"] == "JSON" and lc["application_log_level"] == "INFO" and lc["system_log_level"] == "INFO",
      "JSON logs, application level INFO (from log_level), system level INFO")
lg = after("aws_cloudwatch_log_group.this")
check(lg["name"] == "/aws/lambda/mcpfleet" and lc["log_group"] == lg["name"] and lg["retention_in_days"] == 30,
      "log group /aws/lambda/mcpfleet created by the module, 30 days retention")

# ---- environment ----
# REDIS_URL and REDIS_PASSWORD_SECRET_ARN are known only after apply, so the
# provider plans the whole map as unknown: its names and values are asserted
# by terraform test (mock ARNs and endpoint). What a plan can show: no
# sensitive value flows into it (an ephemeral or write-only value cannot at
# all: Terraform rejects it outside write-only arguments), and it is built
# from the module's environment alone.
fc = rc[M + "aws_lambda_function.this"]["change"]
env_refs = conf["aws_lambda_function.this"]["expressions"]["environment"][0]["variables"]["references"]
check("true" not in json.dumps(fc.get("after_sensitive", {}).get("environment", [])).lower(),
      "no sensitive value in the function environment")
check(env_refs == ["local.environment"], "the environment is the module's local.environment (set by the module, plus var.environment)")
# ---- function URL ----
url = after("aws_lambda_function_url.this")
check(url["invoke_mode"] == "RESPONSE_STREAM", "function URL invoke mode RESPONSE_STREAM")
check(url["authorization_type"] == "AWS_IAM", "function URL authorization AWS_IAM")
check(not of_type("aws_lambda_permission"), "no resource-policy grant by default (nothing public)")
purl = after("aws_lambda_function_url.this", public)
pp = {r["address"]: r["change"]["after"] for r in of_type("aws_lambda_permission", public)}
check(purl["authorization_type"] == "NONE"
      and pp.get(M + "aws_lambda_permission.public_url[0]", {}).get("action") == "lambda:InvokeFunctionUrl"
      and pp[M + "aws_lambda_permission.public_url[0]"]["principal"] == "*"
      and pp[M + "aws_lambda_permission.public_url[0]"]["function_url_auth_type"] == "NONE",
      "with NONE: lambda:InvokeFunctionUrl for * (auth type NONE)")
check(pp.get(M + "aws_lambda_permission.public_invoke[0]", {}).get("action") == "lambda:InvokeFunction"
      and pp[M + "aws_lambda_permission.public_invoke[0]"]["invoked_via_function_url"] is True
      and len(pp) == 2,
      "with NONE: lambda:InvokeFunction for *, only through the function URL; nothing else")

# ---- security groups ----
def sg_of(addr, attr):
    return [r.split(".")[1].split("[")[0] for r in refs(addr, attr) if r.startswith("aws_security_group.") and r.endswith(".id")]
ingress = [r for r in of_type("aws_vpc_security_group_ingress_rule")]
egress = [r for r in of_type("aws_vpc_security_group_egress_rule")]
cache_in = [r for r in ingress if sg_of(r["address"][len(M):].split("[")[0], "security_group_id") == ["cache"]]
check(len(cache_in) == 1 and sg_of("aws_vpc_security_group_ingress_rule.cache_from_function", "referenced_security_group_id") == ["function"]
      and cache_in[0]["change"]["after"]["cidr_ipv4"] is None
      and (cache_in[0]["change"]["after"]["from_port"], cache_in[0]["change"]["after"]["to_port"]) == (6379, 6380),
      "the cache admits only the function security group, TCP 6379-6380")
fe = {r["address"][len(M):]: r["change"]["after"] for r in egress}
check(set(fe) == {"aws_vpc_security_group_egress_rule.function_to_cache", "aws_vpc_security_group_egress_rule.function_to_endpoint[0]"},
      f"function egress rules: cache and Secrets Manager endpoint only ({sorted(fe)})")
check(sg_of("aws_vpc_security_group_egress_rule.function_to_cache", "referenced_security_group_id") == ["cache"]
      and (fe["aws_vpc_security_group_egress_rule.function_to_cache"]["from_port"], fe["aws_vpc_security_group_egress_rule.function_to_cache"]["to_port"]) == (6379, 6380),
      "function -> cache security group on 6379-6380")
check(sg_of("aws_vpc_security_group_egress_rule.function_to_endpoint", "referenced_security_group_id") == ["secretsmanager_endpoint"]
      and fe["aws_vpc_security_group_egress_rule.function_to_endpoint[0]"]["from_port"] == 443
      and sg_of("aws_vpc_security_group_ingress_rule.endpoint_from_function", "referenced_security_group_id") == ["function"],
      "function <-> Secrets Manager endpoint on 443 only")
ep = after("aws_vpc_endpoint.secretsmanager[0]")
check(ep["service_name"] == "com.amazonaws.eu-west-1.secretsmanager" and ep["private_dns_enabled"] is True and ep["vpc_endpoint_type"] == "Interface",
      "Secrets Manager interface endpoint with private DNS")

# ---- IAM (statement resources are ARNs known after apply: scoping is asserted by terraform test) ----
check(not of_type("aws_iam_role_policy_attachment") and not of_type("aws_iam_policy") and len(of_type("aws_iam_role_policy")) == 1,
      "one inline policy, no managed policy attached")
trust = json.loads(after("aws_iam_role.this")["assume_role_policy"])
check([s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}], "the role trusts lambda.amazonaws.com only")
pol = refs("aws_iam_role_policy.this", "policy")
check(pol == ["local.policy_statements"], "the policy is the module's statement list (log group, secret, subnets, security group)")

# ---- cache, RBAC user, secret ----
cache = after("aws_elasticache_serverless_cache.this")
check(cache["engine"] == "valkey" and cache["major_engine_version"] == "8" and sorted(cache["subnet_ids"]) == ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
      "ElastiCache Serverless Valkey 8 in the private subnets")
check(sg_of("aws_elasticache_serverless_cache.this", "security_group_ids") == ["cache"], "the cache uses its own security group")
lim = cache["cache_usage_limits"][0]
check(lim["data_storage"][0]["maximum"] == 5 and lim["data_storage"][0]["unit"] == "GB" and lim["ecpu_per_second"][0]["maximum"] == 10000,
      "cache usage ceilings: 5 GB, 10000 ECPU/s")
app = after("aws_elasticache_user.app")
check(app["access_string"].startswith("on ~mcpfleet:* &mcpfleet:* -@all ") and "+@all" not in app["access_string"] and "-@dangerous" in app["access_string"],
      f"Valkey user limited to mcpfleet:* keys and channels: {app['access_string']}")
default = after("aws_elasticache_user.default")
check(default["user_name"] == "default" and default["access_string"].startswith("off "), "the group's default user is off")
for addr, attrs in (("aws_elasticache_user.app", ("passwords", "passwords_wo")), ("aws_elasticache_user.default", ("passwords", "passwords_wo")),
                    ("aws_secretsmanager_secret_version.redis", ("secret_string", "secret_string_wo", "secret_binary"))):
    a = after(addr)
    check(all(a.get(x) in (None, [], "") for x in attrs), f"{addr}: no password in the plan ({', '.join(attrs)} empty; write-only)")
check(after("aws_secretsmanager_secret_version.redis")["secret_string_wo_version"] == 1 and app["passwords_wo_version"] == 1,
      "password written write-only, version 1")
outs = plan.get("planned_values", {}).get("outputs", {})
check(not [k for k in outs if re.search("password|token", k, re.I)] and "secret_arn" in outs, f"outputs carry no secret value: {sorted(outs)}")
sys.exit(1 if fails else 0)
EOF
  )
  ran "plan assertions (function URL, runtime, logs, environment, security groups, IAM, Valkey user, no secret values)"
}

check_cloudrun
check_lambda

summary
