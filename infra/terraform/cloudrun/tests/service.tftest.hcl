# terraform test with a mock provider: no credentials, no network.
# Run from infra/terraform/cloudrun (scripts/terraform-check.sh does).

mock_provider "google" {
  mock_resource "google_service_account" {
    defaults = {
      email  = "mcpfleet-run@test-project.iam.gserviceaccount.com"
      member = "serviceAccount:mcpfleet-run@test-project.iam.gserviceaccount.com"
    }
  }
  mock_resource "google_redis_instance" {
    defaults = {
      host        = "10.0.0.3"
      port        = 6378
      auth_string = "mock-auth-string"
      server_ca_certs = [{
        cert             = "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"
        create_time      = "2026-01-01T00:00:00Z"
        expire_time      = "2036-01-01T00:00:00Z"
        serial_number    = "1"
        sha1_fingerprint = "00"
      }]
    }
  }
  mock_resource "google_secret_manager_secret" {
    defaults = {
      id = "projects/test-project/secrets/mock"
    }
  }
}

variables {
  project_id          = "test-project"
  region              = "europe-west1"
  image               = "europe-west1-docker.pkg.dev/test-project/mcpfleet/mcpfleet:test"
  network             = "projects/test-project/global/networks/vpc"
  subnetwork          = "projects/test-project/regions/europe-west1/subnetworks/run"
  state_key_secret_id = "mcpfleet-state-key"
}

run "defaults_are_private_and_secret_safe" {
  command = apply

  assert {
    condition     = length(google_cloud_run_v2_service_iam_member.public) == 0
    error_message = "allow_unauthenticated defaults to false: no allUsers binding"
  }

  assert {
    condition = alltrue([
      for e in google_cloud_run_v2_service.this.template[0].containers[0].env :
      length(e.value_source) == 1 if contains(["REDIS_PASSWORD", "MCP_STATE_KEY"], e.name)
    ])
    error_message = "secrets reach the container through value_source.secret_key_ref"
  }

  assert {
    condition = length([
      for e in google_cloud_run_v2_service.this.template[0].containers[0].env : e
      if e.value == "mock-auth-string"
    ]) == 0
    error_message = "the Redis AUTH string never appears as a literal env value"
  }

  assert {
    condition = one([
      for e in google_cloud_run_v2_service.this.template[0].containers[0].env : e.value
      if e.name == "REDIS_URL"
    ]) == "rediss://10.0.0.3:6378/0"
    error_message = "REDIS_URL is the Memorystore TLS endpoint without credentials"
  }

  assert {
    condition     = google_cloud_run_v2_service.this.template[0].containers[0].startup_probe[0].http_get[0].path == "/readyz"
    error_message = "startup probe on /readyz"
  }

  assert {
    condition     = google_cloud_run_v2_service.this.template[0].containers[0].liveness_probe[0].http_get[0].path == "/healthz"
    error_message = "liveness probe on /healthz"
  }

  assert {
    condition     = toset(keys(google_secret_manager_secret_iam_member.access)) == toset(["redis_password", "redis_ca", "state_key"])
    error_message = "secretAccessor on exactly the secrets the service reads"
  }

  assert {
    condition     = toset([for m in google_project_iam_member.telemetry : m.role]) == toset(["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/cloudtrace.agent"])
    error_message = "project-level roles are telemetry writers only"
  }

  assert {
    condition     = google_redis_instance.this[0].auth_enabled && google_redis_instance.this[0].transit_encryption_mode == "SERVER_AUTHENTICATION"
    error_message = "Memorystore with AUTH and TLS"
  }
}

run "public_when_asked" {
  command = plan

  variables {
    allow_unauthenticated = true
    invoker_members       = ["group:mcp-users@example.com"]
  }

  assert {
    condition     = google_cloud_run_v2_service_iam_member.public[0].member == "allUsers"
    error_message = "allow_unauthenticated = true grants run.invoker to allUsers"
  }

  assert {
    condition     = google_cloud_run_v2_service_iam_member.invoker["group:mcp-users@example.com"].role == "roles/run.invoker"
    error_message = "invoker_members get run.invoker"
  }
}

run "external_redis_without_tls_secrets" {
  command = plan

  variables {
    create_redis             = false
    redis_url                = "redis://10.1.2.3:6379/0"
    redis_password_secret_id = "my-redis-password"
  }

  assert {
    condition     = length(google_redis_instance.this) == 0 && length(google_secret_manager_secret.redis_ca) == 0
    error_message = "no Memorystore and no CA secret without create_redis"
  }

  assert {
    condition     = length(google_cloud_run_v2_service.this.template[0].volumes) == 0
    error_message = "no CA volume without a CA secret"
  }

  assert {
    condition     = toset(keys(google_secret_manager_secret_iam_member.access)) == toset(["redis_password", "state_key"])
    error_message = "accessor only on the given secrets"
  }
}

run "state_key_required_with_several_instances" {
  command = plan

  variables {
    state_key_secret_id = null
    max_instance_count  = 3
  }

  expect_failures = [google_cloud_run_v2_service.this]
}

run "redis_url_must_not_carry_a_password" {
  command = plan

  variables {
    create_redis = false
    redis_url    = "redis://:hunter2@10.1.2.3:6379"
  }

  expect_failures = [var.redis_url]
}

run "reserved_env_names_rejected" {
  command = plan

  variables {
    env = { PORT = "9090" }
  }

  expect_failures = [var.env]
}
