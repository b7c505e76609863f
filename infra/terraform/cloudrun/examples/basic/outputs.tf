output "mcp_endpoint" {
  description = "MCP endpoint URL."
  value       = "${module.mcpfleet.service_uri}/mcp"
}

output "service_account_email" {
  description = "The service's own service account."
  value       = module.mcpfleet.service_account_email
}

output "redis_host" {
  description = "Memorystore address (private)."
  value       = module.mcpfleet.redis_host
}
