# mcpfleet on Lambda in an existing VPC: the function behind a function URL,
# ElastiCache Serverless (Valkey), the Redis password in Secrets Manager.
#
#   scripts/lambda-package.sh          # from the repository root: dist/mcpfleet-lambda-arm64.zip
#   cd infra/terraform/lambda/examples/basic
#   terraform init
#   terraform apply -var region=eu-west-1 -var vpc_id=vpc-... \
#     -var 'private_subnet_ids=["subnet-...","subnet-..."]'
#
# See docs/lambda.md for calling the function URL (SigV4) and the variables.

terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.41, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7, < 4.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project = "mcpfleet"
    }
  }
}

module "mcpfleet" {
  source = "../.."

  name     = var.name
  filename = var.lambda_zip

  vpc_id     = var.vpc_id
  subnet_ids = var.private_subnet_ids

  memory_size                 = 512
  timeout                     = 300
  mcp_request_timeout_seconds = 240
  invoke_mode                 = "RESPONSE_STREAM"

  authorization_type = var.authorization_type
  invoker_principals = var.invoker_principals

  create_secretsmanager_endpoint = var.create_secretsmanager_endpoint
  https_egress_cidr_blocks       = var.https_egress_cidr_blocks
  otlp_endpoint                  = var.otlp_endpoint

  environment = {
    MCP_SERVER_NAME = var.name
  }
}
