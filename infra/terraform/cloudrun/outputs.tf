output "service_name" {
  description = "Cloud Run service name."
  value       = google_cloud_run_v2_service.this.name
}

output "service_uri" {
  description = "HTTPS URL of the service; the MCP endpoint is <uri>/mcp."
  value       = google_cloud_run_v2_service.this.uri
}

output "service_account_email" {
  description = "The service's own service account."
  value       = google_service_account.run.email
}

output "redis_host" {
  description = "Memorystore address (null without create_redis). The AUTH string is in Secret Manager, never an output."
  value       = var.create_redis ? google_redis_instance.this[0].host : null
}

output "redis_port" {
  description = "Memorystore TLS port (null without create_redis)."
  value       = var.create_redis ? google_redis_instance.this[0].port : null
}

output "secret_ids" {
  description = "Secret Manager secrets the service reads (IDs only, never values)."
  value       = local.secrets
}
