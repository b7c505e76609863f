output "mcp_endpoint" {
  description = "MCP endpoint URL."
  value       = module.mcpfleet.mcp_endpoint
}

output "function_url" {
  description = "Function URL."
  value       = module.mcpfleet.function_url
}

output "function_name" {
  description = "Lambda function name."
  value       = module.mcpfleet.function_name
}

output "function_arn" {
  description = "Lambda function ARN."
  value       = module.mcpfleet.function_arn
}

output "role_arn" {
  description = "The function's execution role."
  value       = module.mcpfleet.role_arn
}

output "redis_endpoint" {
  description = "ElastiCache Serverless endpoint address (private, TLS)."
  value       = module.mcpfleet.redis_endpoint
}

output "secret_arn" {
  description = "Secret holding the Redis password (ARN only)."
  value       = module.mcpfleet.secret_arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of the function."
  value       = module.mcpfleet.log_group_name
}
