terraform {
  # 1.11 for write-only arguments (the Redis password goes to ElastiCache and
  # Secrets Manager without entering plan or state) and ephemeral resources;
  # `terraform test` with mock providers (tests/) needs 1.7.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.41: aws_elasticache_user.passwords_wo; 6.28: aws_lambda_permission.invoked_via_function_url.
      version = ">= 6.41, < 7.0"
    }
    random = {
      source = "hashicorp/random"
      # 3.7: ephemeral "random_password" (generated locally, never stored).
      version = ">= 3.7, < 4.0"
    }
  }
}
