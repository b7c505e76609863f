# terraform test with a mock aws provider: no credentials, no network.
# Run from infra/terraform/lambda (scripts/terraform-check.sh does). The random
# provider is the real one: mock providers cannot stand in for ephemeral
# resources (Terraform 1.11), and it needs no network.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      region = "eu-west-1"
      name   = "eu-west-1"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/mcpfleet-lambda"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/mcpfleet"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      id  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcpfleet-redis-password-AbCdEf"
      arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcpfleet-redis-password-AbCdEf"
    }
  }
  mock_resource "aws_elasticache_serverless_cache" {
    defaults = {
      endpoint        = [{ address = "mcpfleet-cache-abc123.serverless.euw1.cache.amazonaws.com", port = 6379 }]
      reader_endpoint = [{ address = "mcpfleet-cache-abc123.serverless.euw1.cache.amazonaws.com", port = 6380 }]
    }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn = "arn:aws:lambda:eu-west-1:123456789012:function:mcpfleet"
    }
  }
  mock_resource "aws_lambda_function_url" {
    defaults = {
      function_url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/"
    }
  }
}

# Distinct IDs per security group, so rules can be told apart.
override_resource {
  target = aws_security_group.function
  values = {
    id       = "sg-0f00000000000f001"
    arn      = "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0f00000000000f001"
    owner_id = "123456789012"
  }
}

override_resource {
  target = aws_security_group.cache
  values = {
    id       = "sg-0c00000000000c001"
    arn      = "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0c00000000000c001"
    owner_id = "123456789012"
  }
}

override_resource {
  target = aws_security_group.secretsmanager_endpoint[0]
  values = {
    id       = "sg-0e00000000000e001"
    arn      = "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0e00000000000e001"
    owner_id = "123456789012"
  }
}

variables {
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]
  # The package is not read: the hash is given.
  filename         = "dist/mcpfleet-lambda-arm64.zip"
  source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
}

run "defaults_are_private_streaming_and_secret_safe" {
  command = apply

  # ---- function ----
  assert {
    condition     = aws_lambda_function.this.runtime == "provided.al2023" && aws_lambda_function.this.handler == "bootstrap"
    error_message = "custom runtime provided.al2023 with the bootstrap handler"
  }
  assert {
    condition     = aws_lambda_function.this.architectures == tolist(["arm64"])
    error_message = "arm64 (Graviton)"
  }
  assert {
    condition     = aws_lambda_function.this.timeout == 300 && aws_lambda_function.this.memory_size == 512 && aws_lambda_function.this.reserved_concurrent_executions == -1
    error_message = "timeout 300 s, 512 MB, unreserved concurrency by default"
  }
  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "PassThrough"
    error_message = "no active X-Ray tracing by default"
  }
  assert {
    condition     = toset(aws_lambda_function.this.vpc_config[0].subnet_ids) == toset(var.subnet_ids) && toset(aws_lambda_function.this.vpc_config[0].security_group_ids) == toset(["sg-0f00000000000f001"])
    error_message = "the function runs in the private subnets with its own security group only"
  }

  # ---- logs ----
  assert {
    condition = (
      aws_lambda_function.this.logging_config[0].log_format == "JSON" &&
      aws_lambda_function.this.logging_config[0].application_log_level == "INFO" &&
      aws_lambda_function.this.logging_config[0].system_log_level == "INFO" &&
      aws_lambda_function.this.logging_config[0].log_group == "/aws/lambda/mcpfleet"
    )
    error_message = "JSON logs, application level from log_level, into /aws/lambda/mcpfleet"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/mcpfleet" && aws_cloudwatch_log_group.this.retention_in_days == 30
    error_message = "log group created by the module with 30 days retention"
  }

  # ---- environment ----
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["LAMBDA_INVOKE_MODE"] == "RESPONSE_STREAM"
    error_message = "LAMBDA_INVOKE_MODE tells the server the URL streams"
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["REDIS_URL"] == "rediss://mcpfleet@mcpfleet-cache-abc123.serverless.euw1.cache.amazonaws.com:6379/0"
    error_message = "REDIS_URL: TLS, the RBAC user, no password"
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["REDIS_PASSWORD_SECRET_ARN"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcpfleet-redis-password-AbCdEf"
    error_message = "the password reaches the server as a secret ARN"
  }
  assert {
    condition = length([
      for k, v in aws_lambda_function.this.environment[0].variables : k
      if can(regex("(?i)(PASSWORD|SECRET|TOKEN|STATE_KEY)", k)) && !endswith(k, "_ARN")
    ]) == 0
    error_message = "no password, secret, token or state key in the environment"
  }
  assert {
    condition     = !can(regex(":[^@/]*@", replace(aws_lambda_function.this.environment[0].variables["REDIS_URL"], "rediss://", "")))
    error_message = "REDIS_URL has no user:password part"
  }
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["OTEL_SDK_DISABLED"] == "true" &&
      !contains(keys(aws_lambda_function.this.environment[0].variables), "OTEL_EXPORTER_OTLP_ENDPOINT") &&
      aws_lambda_function.this.environment[0].variables["MCP_REQUEST_TIMEOUT"] == "240s" &&
      aws_lambda_function.this.environment[0].variables["MCP_SESSION_TTL"] == "30m" &&
      aws_lambda_function.this.environment[0].variables["LOG_LEVEL"] == "info" &&
      aws_lambda_function.this.environment[0].variables["LOG_FORMAT"] == "json"
    )
    error_message = "OpenTelemetry off without an endpoint; timeouts, TTL and logging settings"
  }

  # ---- function URL: IAM-authenticated, streaming, nobody public ----
  assert {
    condition     = aws_lambda_function_url.this.invoke_mode == "RESPONSE_STREAM" && aws_lambda_function_url.this.authorization_type == "AWS_IAM"
    error_message = "function URL streams and requires SigV4 (AWS_IAM) by default"
  }
  assert {
    condition     = length(aws_lambda_permission.public_url) == 0 && length(aws_lambda_permission.public_invoke) == 0
    error_message = "no public permission with AWS_IAM"
  }
  assert {
    condition     = length(aws_lambda_permission.invoker_url) == 0 && length(aws_lambda_permission.invoker_invoke) == 0
    error_message = "no invoker granted unless listed"
  }
  assert {
    condition     = length(aws_lambda_function_url.this.cors) == 0
    error_message = "no CORS block unless asked"
  }
  assert {
    condition     = output.mcp_endpoint == "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/mcp"
    error_message = "mcp_endpoint is the function URL + mcp"
  }

  # ---- security groups ----
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.cache_from_function.security_group_id == "sg-0c00000000000c001" &&
      aws_vpc_security_group_ingress_rule.cache_from_function.referenced_security_group_id == "sg-0f00000000000f001" &&
      aws_vpc_security_group_ingress_rule.cache_from_function.cidr_ipv4 == null &&
      aws_vpc_security_group_ingress_rule.cache_from_function.from_port == 6379 &&
      aws_vpc_security_group_ingress_rule.cache_from_function.to_port == 6380
    )
    error_message = "the cache admits only the function's security group, on 6379-6380"
  }
  assert {
    condition = (
      aws_vpc_security_group_egress_rule.function_to_cache.security_group_id == "sg-0f00000000000f001" &&
      aws_vpc_security_group_egress_rule.function_to_cache.referenced_security_group_id == "sg-0c00000000000c001" &&
      aws_vpc_security_group_egress_rule.function_to_cache.from_port == 6379 &&
      aws_vpc_security_group_egress_rule.function_to_cache.to_port == 6380
    )
    error_message = "the function reaches the cache security group on 6379-6380"
  }
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.endpoint_from_function[0].referenced_security_group_id == "sg-0f00000000000f001" &&
      aws_vpc_security_group_ingress_rule.endpoint_from_function[0].from_port == 443 &&
      aws_vpc_security_group_egress_rule.function_to_endpoint[0].referenced_security_group_id == "sg-0e00000000000e001"
    )
    error_message = "HTTPS between the function and the Secrets Manager endpoint only"
  }
  assert {
    condition     = length(aws_vpc_security_group_egress_rule.function_https) == 0
    error_message = "no egress to CIDR ranges by default"
  }
  assert {
    condition     = aws_vpc_endpoint.secretsmanager[0].service_name == "com.amazonaws.eu-west-1.secretsmanager" && aws_vpc_endpoint.secretsmanager[0].private_dns_enabled
    error_message = "Secrets Manager interface endpoint with private DNS"
  }

  # ---- IAM ----
  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "WriteOwnLogs"
    ]) == ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/mcpfleet:*"]
    error_message = "logs only into the function's own log group"
  }
  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "ReadRedisPassword"
    ]) == ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcpfleet-redis-password-AbCdEf"]
    error_message = "GetSecretValue on the one secret only"
  }
  assert {
    condition = toset(one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "CreateNetworkInterfaces"
      ])) == toset([
      "arn:aws:ec2:eu-west-1:123456789012:network-interface/*",
      "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0f00000000000f001",
      "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0aaaaaaaaaaaaaaa1",
      "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0bbbbbbbbbbbbbbb2",
    ])
    error_message = "network interfaces only in the given subnets with the function's security group"
  }
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid if contains(s.Resource, "*")
    ])) == toset(["DescribeNetwork"])
    error_message = "only the Describe* actions (no resource-level permissions) use Resource \"*\""
  }
  assert {
    condition = length([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s
      if length([for a in s.Action : a if startswith(a, "xray:") || startswith(a, "kms:")]) > 0
    ]) == 0
    error_message = "no X-Ray or KMS permission by default"
  }
  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Principal.Service == "lambda.amazonaws.com"
    error_message = "the role trusts Lambda only"
  }

  # ---- cache, RBAC, secret ----
  assert {
    condition = (
      aws_elasticache_serverless_cache.this.engine == "valkey" &&
      aws_elasticache_serverless_cache.this.major_engine_version == "8" &&
      toset(aws_elasticache_serverless_cache.this.security_group_ids) == toset(["sg-0c00000000000c001"]) &&
      aws_elasticache_serverless_cache.this.user_group_id == "mcpfleet-users"
    )
    error_message = "Valkey 8 serverless cache with its own security group and the RBAC user group"
  }
  assert {
    condition = (
      startswith(aws_elasticache_user.app.access_string, "on ~mcpfleet:* &mcpfleet:* -@all ") &&
      strcontains(aws_elasticache_user.app.access_string, "-@dangerous") &&
      !strcontains(aws_elasticache_user.app.access_string, "+@all") &&
      aws_elasticache_user.app.passwords_wo_version == 1
    )
    error_message = "the app user is limited to mcpfleet:* keys and channels, without dangerous commands; write-only password"
  }
  assert {
    condition     = aws_elasticache_user.default.user_name == "default" && startswith(aws_elasticache_user.default.access_string, "off ")
    error_message = "the group's required default user is switched off"
  }
  assert {
    condition     = toset(aws_elasticache_user_group.this.user_ids) == toset(["mcpfleet-default", "mcpfleet-app"])
    error_message = "the group holds the disabled default user and the app user"
  }
  assert {
    condition     = aws_secretsmanager_secret_version.redis.secret_string == null && aws_secretsmanager_secret_version.redis.secret_string_wo_version == 1
    error_message = "the secret value is write-only: never in state"
  }
  assert {
    condition     = aws_elasticache_user.app.passwords == null || length(coalesce(aws_elasticache_user.app.passwords, [])) == 0
    error_message = "no password in the user's state"
  }
  assert {
    condition     = output.secret_arn == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcpfleet-redis-password-AbCdEf"
    error_message = "secret_arn output is the ARN"
  }
}

run "public_url_adds_both_permissions" {
  command = plan

  variables {
    authorization_type = "NONE"
  }

  assert {
    condition     = aws_lambda_function_url.this.authorization_type == "NONE"
    error_message = "public function URL"
  }
  assert {
    condition = (
      aws_lambda_permission.public_url[0].action == "lambda:InvokeFunctionUrl" &&
      aws_lambda_permission.public_url[0].principal == "*" &&
      aws_lambda_permission.public_url[0].function_url_auth_type == "NONE" &&
      aws_lambda_permission.public_url[0].statement_id == "FunctionURLAllowPublicAccess"
    )
    error_message = "lambda:InvokeFunctionUrl for everyone, for auth type NONE"
  }
  assert {
    condition = (
      aws_lambda_permission.public_invoke[0].action == "lambda:InvokeFunction" &&
      aws_lambda_permission.public_invoke[0].principal == "*" &&
      aws_lambda_permission.public_invoke[0].invoked_via_function_url == true &&
      aws_lambda_permission.public_invoke[0].statement_id == "FunctionURLAllowInvokeAction"
    )
    error_message = "lambda:InvokeFunction for everyone, only through the function URL"
  }
}

run "iam_invokers_get_both_permissions" {
  command = plan

  variables {
    invoker_principals = ["arn:aws:iam::111122223333:role/mcp-client"]
  }

  assert {
    condition = (
      aws_lambda_permission.invoker_url["arn:aws:iam::111122223333:role/mcp-client"].action == "lambda:InvokeFunctionUrl" &&
      aws_lambda_permission.invoker_url["arn:aws:iam::111122223333:role/mcp-client"].function_url_auth_type == "AWS_IAM"
    )
    error_message = "listed principals get lambda:InvokeFunctionUrl for AWS_IAM"
  }
  assert {
    condition = (
      aws_lambda_permission.invoker_invoke["arn:aws:iam::111122223333:role/mcp-client"].action == "lambda:InvokeFunction" &&
      aws_lambda_permission.invoker_invoke["arn:aws:iam::111122223333:role/mcp-client"].invoked_via_function_url == true
    )
    error_message = "and lambda:InvokeFunction through the URL only"
  }
  assert {
    condition     = length(aws_lambda_permission.public_url) == 0 && length(aws_lambda_permission.public_invoke) == 0
    error_message = "nothing public"
  }
}

run "buffered_traced_exported_cors" {
  command = apply

  variables {
    invoke_mode              = "BUFFERED"
    tracing_mode             = "Active"
    otlp_endpoint            = "https://otlp.example.com:4318"
    https_egress_cidr_blocks = ["0.0.0.0/0"]
    log_level                = "debug"
    cors = {
      allow_origins = ["https://app.example.com", "*"]
    }
    environment = {
      MCP_SERVER_NAME = "tools"
    }
  }

  assert {
    condition     = aws_lambda_function_url.this.invoke_mode == "BUFFERED" && aws_lambda_function.this.environment[0].variables["LAMBDA_INVOKE_MODE"] == "BUFFERED"
    error_message = "invoke mode reaches the URL and the server together"
  }
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otlp.example.com:4318" &&
      !contains(keys(aws_lambda_function.this.environment[0].variables), "OTEL_SDK_DISABLED")
    )
    error_message = "OTLP endpoint set, SDK enabled"
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["MCP_ALLOWED_ORIGINS"] == "https://app.example.com" && aws_lambda_function.this.environment[0].variables["MCP_SERVER_NAME"] == "tools"
    error_message = "CORS origins (without *) become MCP_ALLOWED_ORIGINS; extra environment merged"
  }
  assert {
    condition     = aws_lambda_function.this.logging_config[0].application_log_level == "DEBUG"
    error_message = "application log level follows log_level"
  }
  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "Active"
    error_message = "active tracing"
  }
  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action if s.Sid == "WriteTraces"
    ]) == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    error_message = "X-Ray write permission only with active tracing"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.function_https["0.0.0.0/0"].from_port == 443 && aws_vpc_security_group_egress_rule.function_https["0.0.0.0/0"].to_port == 443
    error_message = "CIDR egress is HTTPS only"
  }
  assert {
    condition     = aws_lambda_function_url.this.cors[0].expose_headers == toset(["mcp-session-id"])
    error_message = "CORS exposes Mcp-Session-Id"
  }
}

run "existing_endpoint_via_cidr" {
  command = plan

  variables {
    create_secretsmanager_endpoint = false
    https_egress_cidr_blocks       = ["10.0.0.0/16"]
    secret_kms_key_arn             = "arn:aws:kms:eu-west-1:123456789012:key/0b9e8c1a-1111-2222-3333-444455556666"
  }

  assert {
    condition     = length(aws_vpc_endpoint.secretsmanager) == 0 && length(aws_security_group.secretsmanager_endpoint) == 0
    error_message = "no endpoint when asked not to"
  }
}

run "no_path_to_secrets_manager_fails" {
  command = plan

  variables {
    create_secretsmanager_endpoint = false
  }

  expect_failures = [aws_lambda_function.this]
}

run "bad_invoke_mode_rejected" {
  command = plan

  variables {
    invoke_mode = "STREAM"
  }

  expect_failures = [var.invoke_mode]
}

run "bad_authorization_type_rejected" {
  command = plan

  variables {
    authorization_type = "COGNITO"
  }

  expect_failures = [var.authorization_type]
}

run "timeout_over_900_rejected" {
  command = plan

  variables {
    timeout = 901
  }

  expect_failures = [var.timeout]
}

run "request_timeout_must_be_below_function_timeout" {
  command = plan

  variables {
    timeout                     = 120
    mcp_request_timeout_seconds = 120
  }

  expect_failures = [var.mcp_request_timeout_seconds]
}

run "secrets_in_environment_rejected" {
  command = plan

  variables {
    environment = { REDIS_PASSWORD = "hunter2hunter2hunter2" }
  }

  expect_failures = [var.environment]
}

run "secret_looking_names_rejected" {
  command = plan

  variables {
    environment = { UPSTREAM_API_TOKEN = "abc" }
  }

  expect_failures = [var.environment]
}

run "invokers_need_aws_iam" {
  command = plan

  variables {
    authorization_type = "NONE"
    invoker_principals = ["123456789012"]
  }

  expect_failures = [var.invoker_principals]
}
