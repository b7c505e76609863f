variable "project_id" {
  description = "Google Cloud project ID."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, Memorystore and the subnet."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Base name of the resources."
  type        = string
  default     = "mcpfleet"
}

variable "image" {
  description = "Container image in Artifact Registry (tag or digest)."
  type        = string
}

variable "state_key_secret_id" {
  description = "Secret Manager secret with MCP_STATE_KEY (created with gcloud, see docs/cloudrun.md)."
  type        = string
  default     = "mcpfleet-state-key"
}

variable "subnet_cidr" {
  description = "Range of the Direct VPC egress subnet."
  type        = string
  default     = "10.8.0.0/24"
}

variable "allow_unauthenticated" {
  description = "Make the service public (no IAM check on invocation)."
  type        = bool
  default     = false
}

variable "invoker_members" {
  description = "Principals allowed to invoke the service, e.g. [\"user:you@example.com\"]."
  type        = list(string)
  default     = []
}

variable "enable_apis" {
  description = "Enable the required Google APIs in the project."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the service and Memorystore from terraform destroy."
  type        = bool
  default     = true
}
