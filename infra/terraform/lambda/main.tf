# mcpfleet on AWS Lambda: the `bootstrap` binary (provided.al2023, arm64)
# behind a function URL, sessions in ElastiCache Serverless for Valkey (TLS,
# RBAC user limited to mcpfleet's keys and channels) reached from private
# subnets, the Redis password in Secrets Manager (never in plan, state or the
# environment), a least-privilege role and JSON logs. See docs/lambda.md.

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  tags = merge({ app = "mcpfleet", managed-by = "terraform" }, var.tags)

  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  # The account, without a call to STS: every security group carries it.
  account_id = aws_security_group.function.owner_id

  log_group_name = "/aws/lambda/${var.name}"

  redis_endpoint = aws_elasticache_serverless_cache.this.endpoint[0]
  # No password in the URL: the server reads it from REDIS_PASSWORD_SECRET_ARN.
  # rediss://: ElastiCache Serverless accepts only TLS connections.
  redis_url = "rediss://${var.redis_user_name}@${local.redis_endpoint.address}:${local.redis_endpoint.port}/0"

  # What the server does in Valkey (state/redis.go, state/redis_bus.go):
  # strings (session records, shared keys: SET NX/XX, GETEX), streams (event
  # logs: XADD, XRANGE, XREVRANGE), sets (resource subscriptions: SADD, SREM,
  # SMEMBERS), key lifetimes (PEXPIRE, DEL), MULTI/EXEC, PUBLISH/SUBSCRIBE,
  # plus the connection handshake (HELLO, AUTH, CLIENT SETNAME/SETINFO, PING).
  # Keys and channels are limited to the prefix; -@dangerous drops KEYS, INFO,
  # CONFIG, FLUSH*, CLIENT LIST/KILL and the like; SCAN and RANDOMKEY are
  # removed because key patterns do not filter the names they return.
  default_access_string = join(" ", [
    "on",
    "~${var.redis_key_prefix}:*",
    "&${var.redis_key_prefix}:*",
    "-@all",
    "+@connection", "+@transaction", "+@pubsub",
    "+@string", "+@stream", "+@set", "+@keyspace",
    "-@dangerous", "-scan", "-randomkey",
  ])
  access_string = coalesce(var.redis_access_string, local.default_access_string)

  cors_server_origins = var.cors == null ? [] : [for o in var.cors.allow_origins : o if o != "*"]

  environment = merge(
    {
      LAMBDA_INVOKE_MODE        = var.invoke_mode
      REDIS_URL                 = local.redis_url
      REDIS_PASSWORD_SECRET_ARN = aws_secretsmanager_secret.redis.arn
      MCP_SESSION_TTL           = var.session_ttl
      MCP_REQUEST_TIMEOUT       = "${var.mcp_request_timeout_seconds}s"
      LOG_LEVEL                 = var.log_level
      LOG_FORMAT                = "json"
    },
    var.otlp_endpoint == null ? { OTEL_SDK_DISABLED = "true" } : { OTEL_EXPORTER_OTLP_ENDPOINT = var.otlp_endpoint },
    length(local.cors_server_origins) > 0 ? { MCP_ALLOWED_ORIGINS = join(",", local.cors_server_origins) } : {},
    var.environment,
  )

  subnet_arns = [for s in var.subnet_ids : "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/${s}"]
  eni_arn     = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"

  policy_statements = concat(
    [
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.this.arn}:*"]
      },
      {
        # Lambda creates the function's network interfaces with the execution
        # role: only in these subnets and with this security group.
        Sid      = "CreateNetworkInterfaces"
        Effect   = "Allow"
        Action   = ["ec2:CreateNetworkInterface"]
        Resource = concat([local.eni_arn, aws_security_group.function.arn], local.subnet_arns)
      },
      {
        # Lambda's documentation asks for these on all network interfaces (a
        # narrower grant may leave the function without VPC access): limited
        # to this account and region, no condition keys.
        Sid      = "ManageNetworkInterfaces"
        Effect   = "Allow"
        Action   = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
        Resource = [local.eni_arn]
      },
      {
        # Describe* actions support no resource-level permissions.
        Sid      = "DescribeNetwork"
        Effect   = "Allow"
        Action   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
        Resource = ["*"]
      },
      {
        Sid      = "ReadRedisPassword"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [aws_secretsmanager_secret.redis.arn]
      },
    ],
    var.secret_kms_key_arn == null ? [] : [
      {
        Sid       = "DecryptRedisPassword"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = [var.secret_kms_key_arn]
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.${local.dns_suffix}" } }
      },
    ],
    var.tracing_mode == "Active" ? [
      {
        # X-Ray supports no resource-level permissions.
        Sid      = "WriteTraces"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
        Resource = ["*"]
      },
    ] : [],
  )
}

# ---- logs ----

# Created before the function, so Lambda never creates it without retention
# and the role needs no logs:CreateLogGroup.
resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

# ---- execution role: only what the function needs ----

resource "aws_iam_role" "this" {
  name        = "${var.name}-lambda"
  description = "Execution role of the ${var.name} mcpfleet Lambda function."
  tags        = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.${local.dns_suffix}" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# Inline, no managed policies: AWSLambdaVPCAccessExecutionRole and
# AWSLambdaBasicExecutionRole grant their actions on every resource.
resource "aws_iam_role_policy" "this" {
  name = "${var.name}-lambda"
  role = aws_iam_role.this.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.policy_statements
  })
}

# ---- network ----

resource "aws_security_group" "function" {
  name        = "${var.name}-function"
  description = "mcpfleet Lambda function ${var.name}: egress to its cache and HTTPS endpoints only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-function" })
}

resource "aws_security_group" "cache" {
  name        = "${var.name}-cache"
  description = "ElastiCache Serverless ${var.name}-cache: admits the mcpfleet function only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-cache" })
}

# ElastiCache Serverless serves the endpoint on 6379 and the reader endpoint
# on 6380, both TLS.
resource "aws_vpc_security_group_egress_rule" "function_to_cache" {
  security_group_id            = aws_security_group.function.id
  description                  = "Valkey (TLS) to the ElastiCache Serverless endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6380
  referenced_security_group_id = aws_security_group.cache.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "cache_from_function" {
  security_group_id            = aws_security_group.cache.id
  description                  = "Valkey (TLS) from the mcpfleet function"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6380
  referenced_security_group_id = aws_security_group.function.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_egress_rule" "function_https" {
  for_each = toset(var.https_egress_cidr_blocks)

  security_group_id = aws_security_group.function.id
  description       = "HTTPS (NAT or VPC endpoints: Secrets Manager, OTLP)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  tags              = local.tags
}

# Secrets Manager from private subnets without NAT. With private DNS the
# endpoint answers for secretsmanager.<region>.amazonaws.com in the whole VPC;
# its security group admits only the function.
resource "aws_security_group" "secretsmanager_endpoint" {
  count = var.create_secretsmanager_endpoint ? 1 : 0

  name        = "${var.name}-secretsmanager-endpoint"
  description = "Secrets Manager interface endpoint: HTTPS from the mcpfleet function ${var.name}"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-secretsmanager-endpoint" })
}

resource "aws_vpc_security_group_ingress_rule" "endpoint_from_function" {
  count = var.create_secretsmanager_endpoint ? 1 : 0

  security_group_id            = aws_security_group.secretsmanager_endpoint[0].id
  description                  = "HTTPS from the mcpfleet function"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.function.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_egress_rule" "function_to_endpoint" {
  count = var.create_secretsmanager_endpoint ? 1 : 0

  security_group_id            = aws_security_group.function.id
  description                  = "HTTPS to the Secrets Manager interface endpoint"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.secretsmanager_endpoint[0].id
  tags                         = local.tags
}

resource "aws_vpc_endpoint" "secretsmanager" {
  count = var.create_secretsmanager_endpoint ? 1 : 0

  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${local.region}.secretsmanager"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.secretsmanager_endpoint[0].id]
  private_dns_enabled = true
  tags                = merge(local.tags, { Name = "${var.name}-secretsmanager" })
}

# ---- Redis password: generated at apply, written only to write-only arguments ----

# Opened anew on every plan and apply and never stored. The *_wo_version
# arguments decide when the value is sent: on creation and whenever
# redis_password_version changes, to the user and the secret in the same apply.
ephemeral "random_password" "redis" {
  length  = 64
  special = false # ElastiCache refuses some punctuation; 64 alphanumerics are ~380 bits
}

# The group must contain a user named "default"; this one is switched off
# (and has a password nobody keeps), so unauthenticated connections can do
# nothing.
ephemeral "random_password" "redis_default" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "redis" {
  name                    = "${var.name}-redis-password"
  description             = "Password of the Valkey user ${var.redis_user_name} of ElastiCache Serverless ${var.name}-cache (plain string). Read by the ${var.name} Lambda function."
  recovery_window_in_days = var.secret_recovery_window_in_days
  kms_key_id              = var.secret_kms_key_arn
  tags                    = local.tags
}

# Users and group use the RBAC engine "redis", which ElastiCache accepts for
# Valkey caches too (the ElastiCache RBAC documentation); both users have
# passwords, so a "valkey" group would also admit them.
resource "aws_elasticache_user" "app" {
  user_id              = "${var.name}-app"
  user_name            = var.redis_user_name
  engine               = "redis"
  access_string        = local.access_string
  passwords_wo         = ephemeral.random_password.redis.result
  passwords_wo_version = var.redis_password_version
  tags                 = local.tags
}

resource "aws_elasticache_user" "default" {
  user_id              = "${var.name}-default"
  user_name            = "default"
  engine               = "redis"
  access_string        = "off -@all"
  passwords_wo         = ephemeral.random_password.redis_default.result
  passwords_wo_version = 1
  tags                 = local.tags
}

# Written after the user, in the same apply: the secret holds the password the
# user has. If an apply fails between the two, increment redis_password_version.
resource "aws_secretsmanager_secret_version" "redis" {
  secret_id                = aws_secretsmanager_secret.redis.id
  secret_string_wo         = ephemeral.random_password.redis.result
  secret_string_wo_version = var.redis_password_version

  depends_on = [aws_elasticache_user.app]
}

resource "aws_elasticache_user_group" "this" {
  user_group_id = "${var.name}-users"
  engine        = "redis"
  user_ids      = [aws_elasticache_user.default.user_id, aws_elasticache_user.app.user_id]
  tags          = local.tags
}

# ---- ElastiCache Serverless (Valkey) ----

resource "aws_elasticache_serverless_cache" "this" {
  name                     = "${var.name}-cache"
  description              = "mcpfleet sessions (${var.name})"
  engine                   = "valkey"
  major_engine_version     = var.cache_major_engine_version
  subnet_ids               = var.subnet_ids
  security_group_ids       = [aws_security_group.cache.id]
  user_group_id            = aws_elasticache_user_group.this.user_group_id
  snapshot_retention_limit = var.cache_snapshot_retention_limit
  tags                     = local.tags

  dynamic "cache_usage_limits" {
    for_each = var.cache_max_data_storage_gb != null || var.cache_max_ecpu_per_second != null ? [1] : []
    content {
      dynamic "data_storage" {
        for_each = var.cache_max_data_storage_gb != null ? [var.cache_max_data_storage_gb] : []
        content {
          maximum = data_storage.value
          unit    = "GB"
        }
      }
      dynamic "ecpu_per_second" {
        for_each = var.cache_max_ecpu_per_second != null ? [var.cache_max_ecpu_per_second] : []
        content {
          maximum = ecpu_per_second.value
        }
      }
    }
  }
}

# ---- the function ----

resource "aws_lambda_function" "this" {
  function_name    = var.name
  description      = "mcpfleet MCP server (Streamable HTTP at /mcp through the function URL)"
  role             = aws_iam_role.this.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  filename         = var.filename
  source_code_hash = var.source_code_hash != null ? var.source_code_hash : filebase64sha256(var.filename)

  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  tags                           = local.tags

  environment {
    variables = local.environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = upper(var.log_level)
    system_log_level      = var.system_log_level
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.function.id]
  }

  tracing_config {
    mode = var.tracing_mode
  }

  lifecycle {
    precondition {
      condition     = var.create_secretsmanager_endpoint || length(var.https_egress_cidr_blocks) > 0
      error_message = "The function reads the Redis password from Secrets Manager: keep create_secretsmanager_endpoint = true, or give https_egress_cidr_blocks (NAT gateway or an existing endpoint)."
    }
  }

  # The role needs its network interface permissions when the function is
  # created; the secret must hold the password before the first request.
  depends_on = [
    aws_iam_role_policy.this,
    aws_secretsmanager_secret_version.redis,
    aws_vpc_endpoint.secretsmanager,
  ]
}

# ---- function URL and who may call it ----

# With NONE, the provider adds these two statements by itself when it creates
# the URL, under these statement IDs, and never removes them. Declaring them
# here (created first; the provider then finds them in place) makes them
# visible in plans and removes them when authorization_type goes back to
# AWS_IAM. Since late 2025 a function URL needs both lambda:InvokeFunctionUrl
# and lambda:InvokeFunction (restricted to calls through the URL).
resource "aws_lambda_permission" "public_url" {
  count = var.authorization_type == "NONE" ? 1 : 0

  statement_id           = "FunctionURLAllowPublicAccess"
  function_name          = aws_lambda_function.this.function_name
  action                 = "lambda:InvokeFunctionUrl"
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "public_invoke" {
  count = var.authorization_type == "NONE" ? 1 : 0

  statement_id             = "FunctionURLAllowInvokeAction"
  function_name            = aws_lambda_function.this.function_name
  action                   = "lambda:InvokeFunction"
  principal                = "*"
  invoked_via_function_url = true
}

resource "aws_lambda_permission" "invoker_url" {
  for_each = toset(var.invoker_principals)

  statement_id           = "${var.name}-url-${substr(sha256(each.value), 0, 16)}"
  function_name          = aws_lambda_function.this.function_name
  action                 = "lambda:InvokeFunctionUrl"
  principal              = each.value
  function_url_auth_type = "AWS_IAM"
}

resource "aws_lambda_permission" "invoker_invoke" {
  for_each = toset(var.invoker_principals)

  statement_id             = "${var.name}-invoke-${substr(sha256(each.value), 0, 16)}"
  function_name            = aws_lambda_function.this.function_name
  action                   = "lambda:InvokeFunction"
  principal                = each.value
  invoked_via_function_url = true
}

resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  authorization_type = var.authorization_type
  invoke_mode        = var.invoke_mode

  dynamic "cors" {
    for_each = var.cors == null ? [] : [var.cors]
    content {
      allow_origins     = cors.value.allow_origins
      allow_methods     = cors.value.allow_methods
      allow_headers     = cors.value.allow_headers
      expose_headers    = cors.value.expose_headers
      allow_credentials = cors.value.allow_credentials
      max_age           = cors.value.max_age
    }
  }

  depends_on = [
    aws_lambda_permission.public_url,
    aws_lambda_permission.public_invoke,
  ]
}
