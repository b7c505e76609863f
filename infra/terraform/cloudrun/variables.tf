# ---- where ----

variable "project_id" {
  description = "Google Cloud project ID."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run service and the Memorystore instance, e.g. europe-west1."
  type        = string
}

variable "name" {
  description = "Base name of every resource (Cloud Run service, service account, Memorystore instance, secrets)."
  type        = string
  default     = "mcpfleet"

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{0,22}[a-z0-9]$", var.name))
    error_message = "name: lower-case letters, digits and hyphens, starting with a letter, 2 to 24 characters (the service account ID adds \"-run\")."
  }
}

variable "labels" {
  description = "Labels put on the service, its revisions, the Memorystore instance and the secrets."
  type        = map(string)
  default     = {}
}

# ---- container ----

variable "image" {
  description = "Container image, e.g. europe-west1-docker.pkg.dev/PROJECT/mcpfleet/mcpfleet:v1.2.3 (prefer a digest: ...@sha256:...)."
  type        = string
}

variable "cpu" {
  description = "CPU limit per instance (\"1\", \"2\", ...)."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory limit per instance."
  type        = string
  default     = "512Mi"
}

variable "cpu_idle" {
  description = "true: request-based billing, CPU throttled outside requests (mcpfleet keeps a request open while a tool call runs). false: instance-based billing, CPU always allocated."
  type        = bool
  default     = true
}

variable "startup_cpu_boost" {
  description = "Give instances extra CPU while they start."
  type        = bool
  default     = true
}

variable "execution_environment" {
  description = "EXECUTION_ENVIRONMENT_GEN1 or EXECUTION_ENVIRONMENT_GEN2."
  type        = string
  default     = "EXECUTION_ENVIRONMENT_GEN2"

  validation {
    condition     = contains(["EXECUTION_ENVIRONMENT_GEN1", "EXECUTION_ENVIRONMENT_GEN2"], var.execution_environment)
    error_message = "execution_environment must be EXECUTION_ENVIRONMENT_GEN1 or EXECUTION_ENVIRONMENT_GEN2."
  }
}

# ---- scaling and requests ----

variable "min_instance_count" {
  description = "Minimum number of instances (0 scales to zero; sessions live in Redis, so no instance needs to stay)."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instance_count >= 0
    error_message = "min_instance_count must be >= 0."
  }
}

variable "max_instance_count" {
  description = "Maximum number of instances."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instance_count >= 1
    error_message = "max_instance_count must be >= 1."
  }
}

variable "concurrency" {
  description = "Maximum concurrent requests per instance (Cloud Run allows up to 1000). Open SSE streams count. Also passed to the server as MCP_MAX_CONCURRENT_REQUESTS."
  type        = number
  default     = 250

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 1000
    error_message = "concurrency must be between 1 and 1000."
  }
}

variable "request_timeout_seconds" {
  description = "Cloud Run request timeout: the longest an HTTP request, including an SSE stream, may stay open (max 3600). Clients reconnect streams that end; tool calls are bounded separately by mcp_request_timeout."
  type        = number
  default     = 3600

  validation {
    condition     = var.request_timeout_seconds >= 1 && var.request_timeout_seconds <= 3600
    error_message = "request_timeout_seconds must be between 1 and 3600."
  }
}

variable "mcp_request_timeout" {
  description = "MCP_REQUEST_TIMEOUT: bound of one tool call (Go duration). Keep it below request_timeout_seconds."
  type        = string
  default     = "5m"
}

variable "session_ttl" {
  description = "MCP_SESSION_TTL: idle lifetime of a legacy session in Redis (Go duration)."
  type        = string
  default     = "30m"
}

variable "shutdown_grace" {
  description = "SHUTDOWN_GRACE: drain budget after SIGTERM. Cloud Run sends SIGKILL 10 s after SIGTERM; 9s leaves time to exit."
  type        = string
  default     = "9s"
}

variable "log_level" {
  description = "LOG_LEVEL: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "env" {
  description = "More plain environment variables (see docs/cloudrun.md), e.g. { MCP_ALLOWED_ORIGINS = \"https://app.example.com\" }. Never put secrets here: use secret_env."
  type        = map(string)
  default     = {}

  validation {
    condition = length(setintersection(keys(var.env), [
      "PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION",
      "REDIS_URL", "REDIS_PASSWORD", "REDIS_TLS_CA_FILE", "MCP_STATE_KEY",
    ])) == 0
    error_message = "env must not set PORT or K_* (set by Cloud Run), nor REDIS_URL, REDIS_PASSWORD, REDIS_TLS_CA_FILE or MCP_STATE_KEY (set by this module)."
  }
}

variable "secret_env" {
  description = "More environment variables read from Secret Manager: NAME => { secret = secret ID or projects/P/secrets/S, version = \"latest\" }. The service account gets secretAccessor on each secret."
  type = map(object({
    secret  = string
    version = optional(string, "latest")
  }))
  default = {}
}

# ---- secrets ----

variable "state_key_secret_id" {
  description = "Secret Manager secret (ID or projects/P/secrets/S) holding MCP_STATE_KEY, the base64 32-byte key all instances share to seal MRTR requestState. Create it outside Terraform (docs/cloudrun.md) so the key never enters Terraform state. Required when max_instance_count > 1."
  type        = string
  default     = null
}

# ---- network and Redis ----

variable "network" {
  description = "VPC network (ID or self link) for Direct VPC egress and the Memorystore instance's authorized network."
  type        = string
}

variable "subnetwork" {
  description = "Subnetwork (ID or self link) in var.region that Cloud Run instances get their addresses from (Direct VPC egress; /26 or larger)."
  type        = string
}

variable "network_tags" {
  description = "Network tags on the instances' VPC interface (for firewall rules)."
  type        = list(string)
  default     = []
}

variable "vpc_egress" {
  description = "PRIVATE_RANGES_ONLY (only RFC 1918 traffic through the VPC) or ALL_TRAFFIC."
  type        = string
  default     = "PRIVATE_RANGES_ONLY"

  validation {
    condition     = contains(["PRIVATE_RANGES_ONLY", "ALL_TRAFFIC"], var.vpc_egress)
    error_message = "vpc_egress must be PRIVATE_RANGES_ONLY or ALL_TRAFFIC."
  }
}

variable "create_redis" {
  description = "Create a Memorystore for Redis instance (AUTH and TLS on). false: use redis_url and the redis_*_secret_id variables."
  type        = bool
  default     = true
}

variable "redis_tier" {
  description = "Memorystore tier: BASIC (no replica) or STANDARD_HA."
  type        = string
  default     = "STANDARD_HA"

  validation {
    condition     = contains(["BASIC", "STANDARD_HA"], var.redis_tier)
    error_message = "redis_tier must be BASIC or STANDARD_HA."
  }
}

variable "redis_memory_size_gb" {
  description = "Memorystore capacity in GiB."
  type        = number
  default     = 1
}

variable "redis_version" {
  description = "Memorystore Redis version."
  type        = string
  default     = "REDIS_7_2"
}

variable "redis_url" {
  description = "With create_redis = false: REDIS_URL without a password, e.g. rediss://10.0.0.3:6378/0."
  type        = string
  default     = null

  validation {
    condition     = var.redis_url == null || can(regex("^rediss?://[^:@/]+(:[0-9]+)?(/[0-9]*)?([?].*)?$", var.redis_url))
    error_message = "redis_url must be redis:// or rediss://host[:port][/db] without user or password (put the password in a secret: redis_password_secret_id)."
  }
}

variable "redis_password_secret_id" {
  description = "With create_redis = false: Secret Manager secret holding REDIS_PASSWORD (optional)."
  type        = string
  default     = null
}

variable "redis_ca_secret_id" {
  description = "With create_redis = false: Secret Manager secret holding the Redis server CA (PEM), mounted as REDIS_TLS_CA_FILE (optional)."
  type        = string
  default     = null
}

# ---- access ----

variable "allow_unauthenticated" {
  description = "Let anyone invoke the service (roles/run.invoker for allUsers). Default false: callers need an identity token with run.invoker."
  type        = bool
  default     = false
}

variable "invoker_members" {
  description = "Principals granted roles/run.invoker, e.g. [\"serviceAccount:client@P.iam.gserviceaccount.com\", \"group:mcp-users@example.com\"]."
  type        = list(string)
  default     = []
}

variable "ingress" {
  description = "INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  type        = string
  default     = "INGRESS_TRAFFIC_ALL"

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.ingress)
    error_message = "ingress must be INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "telemetry_roles" {
  description = "Project roles of the service's own service account: writing logs, metrics and traces. Nothing else is granted at project level."
  type        = list(string)
  default     = ["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/cloudtrace.agent"]
}

variable "deletion_protection" {
  description = "Protect the service and the Memorystore instance from terraform destroy."
  type        = bool
  default     = true
}
