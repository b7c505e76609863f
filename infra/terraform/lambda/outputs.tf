output "function_url" {
  description = "HTTPS URL of the function URL (ends with /); the MCP endpoint is <url>mcp."
  value       = aws_lambda_function_url.this.function_url
}

output "mcp_endpoint" {
  description = "MCP Streamable HTTP endpoint."
  value       = "${trimsuffix(aws_lambda_function_url.this.function_url, "/")}/mcp"
}

output "function_name" {
  description = "Lambda function name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "Lambda function ARN (what invoker IAM policies name as Resource)."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "The function's execution role."
  value       = aws_iam_role.this.arn
}

output "redis_endpoint" {
  description = "ElastiCache Serverless endpoint address (TLS on redis_port). Not a secret; the password is only in Secrets Manager."
  value       = local.redis_endpoint.address
}

output "redis_port" {
  description = "ElastiCache Serverless endpoint port."
  value       = local.redis_endpoint.port
}

output "redis_user_name" {
  description = "Valkey user the server authenticates as."
  value       = aws_elasticache_user.app.user_name
}

output "secret_arn" {
  description = "Secrets Manager secret holding the Redis password (the ARN only, never the value)."
  value       = aws_secretsmanager_secret.redis.arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of the function."
  value       = aws_cloudwatch_log_group.this.name
}

output "function_security_group_id" {
  description = "Security group of the function's network interfaces (add egress rules here, e.g. to an OTLP collector in the VPC)."
  value       = aws_security_group.function.id
}

output "cache_security_group_id" {
  description = "Security group of the ElastiCache Serverless endpoint."
  value       = aws_security_group.cache.id
}

output "secretsmanager_endpoint_security_group_id" {
  description = "Security group of the Secrets Manager interface endpoint (null without create_secretsmanager_endpoint). Other workloads of the VPC that call Secrets Manager now resolve to this endpoint: admit them here."
  value       = var.create_secretsmanager_endpoint ? aws_security_group.secretsmanager_endpoint[0].id : null
}
