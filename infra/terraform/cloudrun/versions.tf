terraform {
  # 1.7 for `terraform test` with mock providers (tests/).
  required_version = ">= 1.7"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14, < 9.0"
    }
  }
}
