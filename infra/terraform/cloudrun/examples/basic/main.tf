# A complete deployment: APIs, a VPC with a subnet for Direct VPC egress, and
# the mcpfleet module (Cloud Run + Memorystore + secrets).
#
#   terraform init
#   terraform apply -var project_id=P -var image=REGION-docker.pkg.dev/P/mcpfleet/mcpfleet@sha256:...
#
# See docs/cloudrun.md for the steps before (image, MCP_STATE_KEY secret) and after.

terraform {
  required_version = ">= 1.7"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14, < 9.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

locals {
  apis = [
    "compute.googleapis.com",
    "iam.googleapis.com",
    "redis.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
  ]
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? toset(local.apis) : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

resource "google_compute_network" "vpc" {
  project                 = var.project_id
  name                    = "${var.name}-vpc"
  auto_create_subnetworks = false

  depends_on = [google_project_service.apis]
}

# Cloud Run instances take their addresses from this subnet (Direct VPC
# egress uses about two addresses per instance: /24 is plenty for 100).
resource "google_compute_subnetwork" "run" {
  project                  = var.project_id
  region                   = var.region
  name                     = "${var.name}-run"
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true
}

module "mcpfleet" {
  source = "../.."

  project_id = var.project_id
  region     = var.region
  name       = var.name
  image      = var.image

  network    = google_compute_network.vpc.id
  subnetwork = google_compute_subnetwork.run.id

  min_instance_count  = 0
  max_instance_count  = 5
  concurrency         = 250
  state_key_secret_id = var.state_key_secret_id

  allow_unauthenticated = var.allow_unauthenticated
  invoker_members       = var.invoker_members
  deletion_protection   = var.deletion_protection

  redis_tier = "BASIC"

  env = {
    MCP_SERVER_NAME = var.name
  }

  depends_on = [google_project_service.apis]
}
