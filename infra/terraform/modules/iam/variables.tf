variable "name" {
  type        = string
  description = "Name of the installation; prefixes the role names."
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of the cluster's IAM OIDC provider (IRSA)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "Give the ARN of an IAM OIDC provider."
  }
}

variable "controller_service_account" {
  type        = string
  description = "The controller's service account as 'namespace:name'."
  default     = "anubis-system:anubis-controller"

  validation {
    condition     = can(regex("^[a-z0-9-]+:[a-z0-9-]+$", var.controller_service_account))
    error_message = "Write the service account as 'namespace:name'."
  }
}

variable "fetcher_service_accounts" {
  type        = list(string)
  description = "Service accounts of the fetch Jobs, as 'namespace:name'; only they get the fetcher role (never the runs' own)."

  validation {
    condition     = length(var.fetcher_service_accounts) > 0 && alltrue([for s in var.fetcher_service_accounts : can(regex("^[a-z0-9-]+:[a-z0-9-]+$", s))])
    error_message = "Give at least one service account, each as 'namespace:name'."
  }
}

variable "results_bucket_arn" {
  type        = string
  description = "ARN of the results bucket."
}

variable "results_prefix" {
  type        = string
  description = "Key prefix of the result records (result_store.prefix in environments/*.toml); the controller may write nowhere else."
  default     = "results/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_./-]*/$", var.results_prefix))
    error_message = "The prefix is a relative key prefix ending in '/'."
  }
}

variable "dataset_bucket_arn" {
  type        = string
  description = "ARN of the dataset bucket."
}

variable "dataset_cache_prefix" {
  type        = string
  description = "Prefix of the dataset bucket the fetcher may write its cache to."
  default     = "cache/"
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the KMS key encrypting the buckets."
}

variable "cloudwatch_namespace" {
  type        = string
  description = "The only CloudWatch metric namespace the controller may publish to."
  default     = "Anubis"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.cloudwatch_namespace)) && !startswith(var.cloudwatch_namespace, "AWS/")
    error_message = "A CloudWatch namespace is up to 255 characters and must not start with 'AWS/'."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
