variable "region" {
  description = "AWS region of every resource."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Base name of the resources."
  type        = string
  default     = "mcpfleet"
}

variable "lambda_zip" {
  description = "Deployment package from scripts/lambda-package.sh, relative to this directory (the default is <repo>/dist/mcpfleet-lambda-arm64.zip)."
  type        = string
  default     = "../../../../../dist/mcpfleet-lambda-arm64.zip"
}

variable "vpc_id" {
  description = "Existing VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets of the VPC, one per Availability Zone (at least two). They reach Secrets Manager through the endpoint this example creates; anything else on the internet (an OTLP endpoint) needs a NAT gateway and https_egress_cidr_blocks."
  type        = list(string)
}

variable "authorization_type" {
  description = "AWS_IAM (callers sign with SigV4) or NONE (public URL: the MCP server has no authentication of its own)."
  type        = string
  default     = "AWS_IAM"
}

variable "invoker_principals" {
  description = "Principals (role ARNs, account IDs) allowed to call the function URL with AWS_IAM, e.g. [\"arn:aws:iam::111122223333:role/mcp-client\"]."
  type        = list(string)
  default     = []
}

variable "create_secretsmanager_endpoint" {
  description = "Create a Secrets Manager interface endpoint in the subnets (false if the VPC has one already)."
  type        = bool
  default     = true
}

variable "https_egress_cidr_blocks" {
  description = "Ranges the function may reach on 443 besides the endpoint, e.g. [\"0.0.0.0/0\"] through a NAT gateway."
  type        = list(string)
  default     = []
}

variable "otlp_endpoint" {
  description = "OTLP/HTTP endpoint for traces and metrics; null disables OpenTelemetry."
  type        = string
  default     = null
}
