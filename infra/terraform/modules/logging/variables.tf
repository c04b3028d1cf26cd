variable "name" {
  type        = string
  description = "Name of the installation; names the OpenSearch domain ('<name>-logs')."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,22}$", var.name))
    error_message = "The name must be 3-23 lower-case letters, digits and '-' (OpenSearch domain names are at most 28 characters)."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the domain is placed in (it has no public endpoint)."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets; the domain uses the first one per data node zone."
}

variable "node_security_group_id" {
  type        = string
  description = "Security group of the cluster's nodes, admitted to the domain over HTTPS."
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of the cluster's IAM OIDC provider (the log shipper's role trusts it)."
}

variable "writer_role_arns" {
  type        = list(string)
  description = "IAM roles allowed to read and write the domain besides the log shipper (the controller's)."
}

variable "engine_version" {
  type        = string
  description = "OpenSearch engine version."
  default     = "OpenSearch_2.17"

  validation {
    condition     = can(regex("^OpenSearch_[0-9]+\\.[0-9]+$", var.engine_version))
    error_message = "Write the version as OpenSearch_MAJOR.MINOR."
  }
}

variable "instance_type" {
  type        = string
  description = "Instance type of the data nodes."
  default     = "t3.small.search"

  validation {
    condition     = endswith(var.instance_type, ".search")
    error_message = "OpenSearch instance types end in '.search'."
  }
}

variable "instance_count" {
  type        = number
  description = "Number of data nodes (1 for the cheapest idle installation, 3 for zone awareness)."
  default     = 1

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 10
    error_message = "Use between 1 and 10 data nodes."
  }
}

variable "volume_size_gb" {
  type        = number
  description = "gp3 volume size of each data node, in GB."
  default     = 20

  validation {
    condition     = var.volume_size_gb >= 10 && var.volume_size_gb <= 1024
    error_message = "Use between 10 and 1024 GB."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days to keep the domain's own logs in CloudWatch Logs."
  default     = 30
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key encrypting the domain at rest."
}

variable "fluent_bit_chart_version" {
  type        = string
  description = "Pinned version of the fluent-bit Helm chart."
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
