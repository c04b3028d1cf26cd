terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.83"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State: configure a backend in backend.tf (not committed), e.g.
  #   terraform { backend "s3" { bucket = "...", key = "anubis/terraform.tfstate", region = "...", use_lockfile = true, encrypt = true } }
}
