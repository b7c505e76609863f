# ---- naming ----

variable "name" {
  description = "Base name of every resource: function, role, log group, security groups, ElastiCache cache, users and user group, secret."
  type        = string
  default     = "mcpfleet"

  validation {
    # ElastiCache limits: the cache name ("<name>-cache") to 40 characters,
    # user and user group IDs to [a-z][a-z0-9-]*, no "--", no trailing "-".
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name: lower-case letters, digits and single hyphens, starting with a letter and not ending with a hyphen, 2 to 32 characters."
  }
}

variable "tags" {
  description = "Tags put on every resource that takes tags."
  type        = map(string)
  default     = {}
}

# ---- code ----

variable "filename" {
  description = "Path of the deployment package built by scripts/lambda-package.sh (dist/mcpfleet-lambda-arm64.zip: the `bootstrap` binary for provided.al2023 on arm64). Relative paths are relative to the directory Terraform runs in."
  type        = string

  validation {
    condition     = endswith(var.filename, ".zip")
    error_message = "filename must be the path of a .zip deployment package."
  }
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the package. null (default): filebase64sha256(filename), so a new build updates the function. Set it only when the file is not readable at plan time (e.g. built in a later CI step)."
  type        = string
  default     = null
}

# ---- function ----

variable "memory_size" {
  description = "Memory of the function in MB (128-10240). CPU is proportional to memory: 1769 MB is one full vCPU."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "timeout" {
  description = "Function timeout in seconds (max 900): the longest one invocation, i.e. one HTTP request through the function URL, SSE streams included, may last. The server ends an SSE stream cleanly before this deadline and clients resume it with Last-Event-ID from the event log in Redis, so long streams span several invocations. Tool calls are bounded by mcp_request_timeout_seconds, which must be lower."
  type        = number
  default     = 300

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900 (the Lambda maximum)."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency: the most execution environments (each serves one request at a time, open SSE streams included) the function may use, and a guaranteed share of the account's concurrency. -1 (default): unreserved, limited only by the account. 0 stops all invocations."
  type        = number
  default     = -1

  validation {
    condition     = var.reserved_concurrent_executions >= -1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions
    error_message = "reserved_concurrent_executions must be -1 (unreserved) or a whole number >= 0."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing: PassThrough (default; no X-Ray permission is granted) or Active (the role gets xray:PutTraceSegments and xray:PutTelemetryRecords). mcpfleet's own traces go to OpenTelemetry (otlp_endpoint), not X-Ray."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode must be PassThrough or Active."
  }
}

# ---- function URL ----

variable "invoke_mode" {
  description = "Function URL invoke mode, also passed to the server as LAMBDA_INVOKE_MODE. RESPONSE_STREAM (default): responses, SSE streams included, are streamed as written. BUFFERED: the whole response is sent when the invocation ends (max 6 MB), so SSE streams arrive in one piece."
  type        = string
  default     = "RESPONSE_STREAM"

  validation {
    condition     = contains(["RESPONSE_STREAM", "BUFFERED"], var.invoke_mode)
    error_message = "invoke_mode must be RESPONSE_STREAM or BUFFERED."
  }
}

variable "authorization_type" {
  description = "Function URL authorization. AWS_IAM (default): every request must be SigV4-signed by a principal allowed to invoke (invoker_principals, or the caller's own IAM policy in this account). NONE: the URL is public and the MCP server has no authentication of its own; put your own auth in front or inside."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["AWS_IAM", "NONE"], var.authorization_type)
    error_message = "authorization_type must be AWS_IAM or NONE."
  }
}

variable "invoker_principals" {
  description = "With authorization_type = AWS_IAM: principals granted lambda:InvokeFunctionUrl and lambda:InvokeFunction (via the function URL only) in the function's resource policy, e.g. [\"arn:aws:iam::111122223333:role/mcp-client\", \"444455556666\"]. Principals of this account can instead be allowed by their own IAM policies."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.invoker_principals : can(regex("^([0-9]{12}|arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+)$", p))])
    error_message = "invoker_principals: each entry must be an account ID (12 digits) or an IAM/STS principal ARN."
  }
  validation {
    condition     = length(var.invoker_principals) == 0 || var.authorization_type == "AWS_IAM"
    error_message = "invoker_principals only applies to authorization_type = AWS_IAM (with NONE anyone can invoke)."
  }
}

variable "cors" {
  description = "CORS of the function URL, for browser clients; null (default): no CORS block. Origins other than \"*\" are also passed to the server as MCP_ALLOWED_ORIGINS, which checks the Origin header itself."
  type = object({
    allow_origins     = list(string)
    allow_methods     = optional(list(string), ["GET", "POST", "DELETE"])
    allow_headers     = optional(list(string), ["content-type", "accept", "authorization", "mcp-session-id", "mcp-protocol-version", "last-event-id"])
    expose_headers    = optional(list(string), ["mcp-session-id"])
    allow_credentials = optional(bool, false)
    max_age           = optional(number, 600)
  })
  default = null

  validation {
    condition     = var.cors == null || try(length(var.cors.allow_origins) > 0 && var.cors.max_age >= 0 && var.cors.max_age <= 86400, false)
    error_message = "cors.allow_origins must not be empty and cors.max_age must be between 0 and 86400."
  }
}

# ---- server settings (environment) ----

variable "mcp_request_timeout_seconds" {
  description = "MCP_REQUEST_TIMEOUT in seconds: bound of one tool call. Must be lower than timeout so that the server answers (with an error) before Lambda ends the invocation."
  type        = number
  default     = 240

  validation {
    condition     = var.mcp_request_timeout_seconds >= 1 && var.mcp_request_timeout_seconds < var.timeout && floor(var.mcp_request_timeout_seconds) == var.mcp_request_timeout_seconds
    error_message = "mcp_request_timeout_seconds must be a whole number of seconds, at least 1 and lower than timeout."
  }
}

variable "session_ttl" {
  description = "MCP_SESSION_TTL: idle lifetime of a session in Redis (Go duration, at least 1m)."
  type        = string
  default     = "30m"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(h|m|s|ms))+$", var.session_ttl))
    error_message = "session_ttl must be a Go duration such as 30m or 1h30m."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the server (debug, info, warn, error); also the function's application_log_level, so Lambda drops JSON log lines below it."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "system_log_level" {
  description = "Level of the Lambda platform's own log lines (DEBUG, INFO, WARN). INFO (default) keeps the START/END/REPORT lines with duration, memory and init duration."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.system_log_level)
    error_message = "system_log_level must be DEBUG, INFO or WARN."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group /aws/lambda/<name>, in days (a CloudWatch Logs value; 0 = never expire)."
  type        = number
  default     = 30

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the CloudWatch Logs values: 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "otlp_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT for traces and metrics, e.g. https://otlp.example.com:4318. null (default): OTEL_SDK_DISABLED=true. The function must be able to reach it: see https_egress_cidr_blocks, or add a rule to the function security group (output function_security_group_id)."
  type        = string
  default     = null

  validation {
    condition     = var.otlp_endpoint == null || can(regex("^https?://", var.otlp_endpoint))
    error_message = "otlp_endpoint must be an http:// or https:// URL."
  }
}

variable "environment" {
  description = "More plain environment variables, merged last, e.g. { MCP_SERVER_NAME = \"tools\" }. They are visible to anyone who can read the function configuration, and in Terraform state: never put secrets here (names that look like secrets are rejected)."
  type        = map(string)
  default     = {}

  validation {
    condition = length(setintersection(keys(var.environment), [
      # set by this module
      "LAMBDA_INVOKE_MODE", "REDIS_URL", "REDIS_PASSWORD_SECRET_ARN", "MCP_SESSION_TTL", "MCP_REQUEST_TIMEOUT",
      "LOG_LEVEL", "LOG_FORMAT", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT",
      # secrets the server would read from the environment
      "REDIS_PASSWORD", "MCP_STATE_KEY",
      # reserved by Lambda
      "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
      "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
      "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
      "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
      "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    ])) == 0
    error_message = "environment must not set the variables this module sets (LAMBDA_INVOKE_MODE, REDIS_URL, REDIS_PASSWORD_SECRET_ARN, MCP_SESSION_TTL, MCP_REQUEST_TIMEOUT, LOG_LEVEL, LOG_FORMAT, OTEL_*), secrets (REDIS_PASSWORD, MCP_STATE_KEY: without MCP_STATE_KEY the instances share a key through Redis), nor names reserved by Lambda."
  }
  validation {
    condition = alltrue([
      for k in keys(var.environment) :
      endswith(upper(k), "_ARN") || !can(regex("(?i)(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_?KEY|API_?KEY|CREDENTIAL)", k))
    ])
    error_message = "environment: names that look like secrets (PASSWORD, SECRET, TOKEN, PRIVATE_KEY, API_KEY, CREDENTIAL) are rejected: Lambda environment variables are readable with lambda:GetFunctionConfiguration and stored in Terraform state. Keep secrets in Secrets Manager and pass their ARN (a name ending in _ARN)."
  }
}

# ---- network ----

variable "vpc_id" {
  description = "VPC of the function's network interfaces, the ElastiCache endpoint and the Secrets Manager endpoint."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  description = "Private subnets of vpc_id, one per Availability Zone, at least two: the function's network interfaces, the ElastiCache endpoint and the Secrets Manager endpoint go there. They need no internet route unless https_egress_cidr_blocks is used (through a NAT gateway)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && length(var.subnet_ids) == length(distinct(var.subnet_ids)) && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must be at least two distinct subnet IDs (subnet-...), in different Availability Zones."
  }
}

variable "create_secretsmanager_endpoint" {
  description = "Create an interface VPC endpoint for Secrets Manager (private DNS) in subnet_ids, with its own security group admitting HTTPS from the function only. The function reads the Redis password through it without any internet route. Set false when the VPC already has one (a second one with private DNS fails) or when the subnets reach Secrets Manager through a NAT gateway; then give https_egress_cidr_blocks."
  type        = bool
  default     = true
}

variable "https_egress_cidr_blocks" {
  description = "IPv4 ranges the function may reach on TCP 443 besides the Secrets Manager endpoint: e.g. [\"0.0.0.0/0\"] through a NAT gateway for an OTLP endpoint outside the VPC, or the VPC range for an existing Secrets Manager endpoint. Default: none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.https_egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "https_egress_cidr_blocks must be IPv4 CIDR blocks."
  }
}

# ---- ElastiCache Serverless ----

variable "cache_major_engine_version" {
  description = "Major Valkey version of the ElastiCache Serverless cache."
  type        = string
  default     = "8"
}

variable "cache_max_data_storage_gb" {
  description = "Upper limit of the cache's data storage in GB (1-5000): a cost ceiling. Writes fail once reached (sessions and event logs carry TTLs and are capped). null: no limit."
  type        = number
  default     = 5

  validation {
    condition     = var.cache_max_data_storage_gb == null || try(var.cache_max_data_storage_gb >= 1 && var.cache_max_data_storage_gb <= 5000, false)
    error_message = "cache_max_data_storage_gb must be between 1 and 5000, or null."
  }
}

variable "cache_max_ecpu_per_second" {
  description = "Upper limit of ElastiCache Processing Units per second (1000-15000000): a cost ceiling; requests are throttled above it. null: no limit."
  type        = number
  default     = 10000

  validation {
    condition     = var.cache_max_ecpu_per_second == null || try(var.cache_max_ecpu_per_second >= 1000 && var.cache_max_ecpu_per_second <= 15000000, false)
    error_message = "cache_max_ecpu_per_second must be between 1000 and 15000000, or null."
  }
}

variable "cache_snapshot_retention_limit" {
  description = "Daily snapshots kept (0-35). Sessions are short-lived, so 0 (default) keeps none."
  type        = number
  default     = 0

  validation {
    condition     = var.cache_snapshot_retention_limit >= 0 && var.cache_snapshot_retention_limit <= 35
    error_message = "cache_snapshot_retention_limit must be between 0 and 35."
  }
}

variable "redis_user_name" {
  description = "Name of the Valkey (RBAC) user the server authenticates as; it is in REDIS_URL."
  type        = string
  default     = "mcpfleet"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,63}$", var.redis_user_name)) && var.redis_user_name != "default"
    error_message = "redis_user_name: a letter, then letters, digits, _ or -, at most 64 characters; not \"default\" (that user is disabled)."
  }
}

variable "redis_key_prefix" {
  description = "Prefix of every key and pub/sub channel the server uses (state.RedisOptions.Prefix; the reference server uses the default \"mcpfleet\"). The Valkey user may touch only keys ~<prefix>:* and channels &<prefix>:*."
  type        = string
  default     = "mcpfleet"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.redis_key_prefix))
    error_message = "redis_key_prefix: letters, digits, _, . and - only (it goes into an ACL pattern)."
  }
}

variable "redis_access_string" {
  description = "Override of the Valkey user's access string. null (default): on, keys ~<prefix>:*, channels &<prefix>:*, and only the command categories the server uses (see README.md)."
  type        = string
  default     = null

  validation {
    condition     = var.redis_access_string == null || try(startswith(var.redis_access_string, "on "), false)
    error_message = "redis_access_string must start with \"on \" (ElastiCache disables a user without it)."
  }
}

variable "redis_password_version" {
  description = "Version of the generated Redis password. The password is generated at apply time and written, write-only, to the ElastiCache user and the Secrets Manager secret: it is never in plan or state. Increment this to rotate it (and to resynchronise the two if an apply failed between them)."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_password_version >= 1 && floor(var.redis_password_version) == var.redis_password_version
    error_message = "redis_password_version must be a whole number >= 1."
  }
}

# ---- secret ----

variable "secret_recovery_window_in_days" {
  description = "Days Secrets Manager keeps the deleted secret recoverable (7-30), or 0 to delete it at once (test stacks that are re-created under the same name)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_in_days == 0 || (var.secret_recovery_window_in_days >= 7 && var.secret_recovery_window_in_days <= 30)
    error_message = "secret_recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "secret_kms_key_arn" {
  description = "Customer managed KMS key for the secret; the function role then gets kms:Decrypt on it, only through Secrets Manager. null (default): the AWS managed key aws/secretsmanager, no KMS permission needed."
  type        = string
  default     = null

  validation {
    condition     = var.secret_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.secret_kms_key_arn))
    error_message = "secret_kms_key_arn must be a KMS key ARN."
  }
}
