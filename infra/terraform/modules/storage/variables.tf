variable "name" {
  type        = string
  description = "Name of the installation; prefixes the KMS alias, the log bucket and the EFS file system."
}

variable "dataset_bucket_name" {
  type        = string
  description = "Name of the S3 bucket holding datasets (s3:// sources of descriptors) and the fetcher's cache."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.dataset_bucket_name)) && !can(regex("\\.\\.", var.dataset_bucket_name))
    error_message = "An S3 bucket name is 3-63 lower-case letters, digits, '.' and '-'."
  }
}

variable "results_bucket_name" {
  type        = string
  description = "Name of the S3 bucket holding result records (result_store.bucket in environments/*.toml)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.results_bucket_name)) && !can(regex("\\.\\.", var.results_bucket_name))
    error_message = "An S3 bucket name is 3-63 lower-case letters, digits, '.' and '-'."
  }
}

variable "dataset_cache_prefix" {
  type        = string
  description = "Prefix of the dataset bucket where the fetcher caches downloaded sources."
  default     = "cache/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_./-]*/$", var.dataset_cache_prefix))
    error_message = "The prefix is a relative key prefix ending in '/'."
  }
}

variable "dataset_cache_expiration_days" {
  type        = number
  description = "Days after which a cached dataset object expires (the fetcher downloads it again when needed)."
  default     = 30

  validation {
    condition     = var.dataset_cache_expiration_days >= 1
    error_message = "Keep cached objects at least one day."
  }
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept (versioning protects against mistakes)."
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "Keep old versions at least one day."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the cluster (the EFS dataset cache is reachable only from it)."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets that get an EFS mount target each (one per availability zone)."
}

variable "node_security_group_id" {
  type        = string
  description = "Security group of the cluster's nodes, admitted to the EFS mount targets (NFS, 2049/tcp)."
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete non-empty buckets (results are lost). Keep false in production."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
