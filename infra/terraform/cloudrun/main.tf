# mcpfleet on Cloud Run: the service, its own service account with least
# privilege, Memorystore for Redis (AUTH + TLS) reached over Direct VPC
# egress, and secrets from Secret Manager. See docs/cloudrun.md.

locals {
  sa_id = "${var.name}-run"

  labels = merge({ app = "mcpfleet", managed-by = "terraform" }, var.labels)

  redis_url = var.create_redis ? "rediss://${google_redis_instance.this[0].host}:${google_redis_instance.this[0].port}/0" : var.redis_url

  redis_password_secret = var.create_redis ? google_secret_manager_secret.redis_auth[0].secret_id : var.redis_password_secret_id
  redis_ca_secret       = var.create_redis ? google_secret_manager_secret.redis_ca[0].secret_id : var.redis_ca_secret_id
  redis_ca_dir          = "/secrets/redis-ca"

  # Every secret the service reads. Keys are known at plan time (they depend on
  # variables only), values may be IDs of secrets created here.
  secrets = merge(
    var.create_redis || var.redis_password_secret_id != null ? { redis_password = local.redis_password_secret } : {},
    var.create_redis || var.redis_ca_secret_id != null ? { redis_ca = local.redis_ca_secret } : {},
    var.state_key_secret_id != null ? { state_key = var.state_key_secret_id } : {},
    { for k, v in var.secret_env : "env_${k}" => v.secret },
  )

  secret_env = merge(
    var.create_redis || var.redis_password_secret_id != null ? { REDIS_PASSWORD = { secret = local.redis_password_secret, version = "latest" } } : {},
    var.state_key_secret_id != null ? { MCP_STATE_KEY = { secret = var.state_key_secret_id, version = "latest" } } : {},
    var.secret_env,
  )

  plain_env = merge(
    {
      MCP_SESSION_TTL             = var.session_ttl
      MCP_REQUEST_TIMEOUT         = var.mcp_request_timeout
      MCP_MAX_CONCURRENT_REQUESTS = tostring(var.concurrency)
      SHUTDOWN_GRACE              = var.shutdown_grace
      LOG_LEVEL                   = var.log_level
      LOG_FORMAT                  = "json"
    },
    local.redis_url != null ? { REDIS_URL = local.redis_url } : {},
    var.create_redis || var.redis_ca_secret_id != null ? { REDIS_TLS_CA_FILE = "${local.redis_ca_dir}/ca.pem" } : {},
    var.env,
  )
}

# ---- service account: only what the service needs ----

resource "google_service_account" "run" {
  project      = var.project_id
  account_id   = local.sa_id
  display_name = "mcpfleet Cloud Run service (${var.name})"
  description  = "Runs the ${var.name} Cloud Run service. Writes logs, metrics and traces; reads its own secrets."
}

resource "google_project_iam_member" "telemetry" {
  for_each = toset(var.telemetry_roles)

  project = var.project_id
  role    = each.value
  member  = google_service_account.run.member
}

# secretAccessor on each secret, not on the project.
resource "google_secret_manager_secret_iam_member" "access" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.run.member
}

# ---- Memorystore for Redis ----

resource "google_redis_instance" "this" {
  count = var.create_redis ? 1 : 0

  project                 = var.project_id
  region                  = var.region
  name                    = "${var.name}-redis"
  display_name            = "mcpfleet sessions (${var.name})"
  tier                    = var.redis_tier
  memory_size_gb          = var.redis_memory_size_gb
  redis_version           = var.redis_version
  authorized_network      = var.network
  connect_mode            = "DIRECT_PEERING"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION" # TLS on port 6378
  deletion_protection     = var.deletion_protection
  labels                  = local.labels

  redis_configs = {
    # Session keys carry TTLs; evict only those under memory pressure.
    "maxmemory-policy" = "volatile-lru"
  }
}

# The AUTH string goes to Secret Manager, from where Cloud Run injects it as
# REDIS_PASSWORD. It is in Terraform state anyway (Memorystore returns it as
# an attribute), so state must be protected like a secret store; it is never
# an output.
resource "google_secret_manager_secret" "redis_auth" {
  count = var.create_redis ? 1 : 0

  project   = var.project_id
  secret_id = "${var.name}-redis-auth"
  labels    = local.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "redis_auth" {
  count = var.create_redis ? 1 : 0

  secret      = google_secret_manager_secret.redis_auth[0].id
  secret_data = google_redis_instance.this[0].auth_string
}

# The server CA is not secret; a secret is how Cloud Run mounts a file.
resource "google_secret_manager_secret" "redis_ca" {
  count = var.create_redis ? 1 : 0

  project   = var.project_id
  secret_id = "${var.name}-redis-ca"
  labels    = local.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "redis_ca" {
  count = var.create_redis ? 1 : 0

  secret      = google_secret_manager_secret.redis_ca[0].id
  secret_data = join("", [for c in google_redis_instance.this[0].server_ca_certs : c.cert])
}

# ---- Cloud Run ----

resource "google_cloud_run_v2_service" "this" {
  project             = var.project_id
  location            = var.region
  name                = var.name
  description         = "mcpfleet MCP server"
  ingress             = var.ingress
  deletion_protection = var.deletion_protection
  labels              = local.labels

  template {
    service_account                  = google_service_account.run.email
    execution_environment            = var.execution_environment
    max_instance_request_concurrency = var.concurrency
    timeout                          = "${var.request_timeout_seconds}s"
    # Any instance serves any session (state is in Redis): no affinity.
    session_affinity = false
    labels           = local.labels

    scaling {
      min_instance_count = var.min_instance_count
      max_instance_count = var.max_instance_count
    }

    vpc_access {
      egress = var.vpc_egress
      network_interfaces {
        network    = var.network
        subnetwork = var.subnetwork
        tags       = var.network_tags
      }
    }

    dynamic "volumes" {
      for_each = contains(keys(local.secrets), "redis_ca") ? [1] : []
      content {
        name = "redis-ca"
        secret {
          secret = local.redis_ca_secret
          items {
            version = "latest"
            path    = "ca.pem"
          }
        }
      }
    }

    containers {
      image = var.image

      ports {
        name           = "http1" # SSE needs HTTP/1.1 end to end
        container_port = 8080    # Cloud Run sets PORT to this
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        cpu_idle          = var.cpu_idle
        startup_cpu_boost = var.startup_cpu_boost
      }

      dynamic "env" {
        for_each = local.plain_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value.secret
              version = env.value.version
            }
          }
        }
      }

      dynamic "volume_mounts" {
        for_each = contains(keys(local.secrets), "redis_ca") ? [1] : []
        content {
          name       = "redis-ca"
          mount_path = local.redis_ca_dir
        }
      }

      # Traffic starts once /readyz answers 200 (Redis reachable).
      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 2
        timeout_seconds       = 2
        failure_threshold     = 30
        http_get {
          path = "/readyz"
        }
      }

      # Restart an instance that stops answering; /healthz does not depend on
      # Redis, so a Redis outage does not restart every instance.
      liveness_probe {
        initial_delay_seconds = 0
        period_seconds        = 15
        timeout_seconds       = 3
        failure_threshold     = 3
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  lifecycle {
    precondition {
      condition     = var.max_instance_count <= 1 || var.state_key_secret_id != null
      error_message = "state_key_secret_id is required when max_instance_count > 1: every instance must seal and open MRTR requestState with the same key."
    }
    precondition {
      condition     = var.create_redis || var.max_instance_count <= 1 || var.redis_url != null
      error_message = "Without create_redis, set redis_url when max_instance_count > 1: in-memory state works only on one instance."
    }
    precondition {
      condition     = var.min_instance_count <= var.max_instance_count
      error_message = "min_instance_count must not exceed max_instance_count."
    }
  }

  # Revisions read the secrets at start-up: grant access and create the
  # versions first.
  depends_on = [
    google_secret_manager_secret_iam_member.access,
    google_secret_manager_secret_version.redis_auth,
    google_secret_manager_secret_version.redis_ca,
  ]
}

# ---- who may invoke ----

resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.allow_unauthenticated ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = toset(var.invoker_members)

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = each.value
}
