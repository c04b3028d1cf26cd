variable "controller_namespace" {
  type        = string
  description = "Namespace of the Anubis controller, where the Secret with its Elasticsearch URL is written."
}

variable "elasticsearch_version" {
  type        = string
  description = "Elasticsearch version ECK runs; its major must be the elasticsearch client's in pyproject.toml."
  default     = "9.2.0"

  validation {
    condition     = can(regex("^9\\.[0-9]+\\.[0-9]+$", var.elasticsearch_version))
    error_message = "Give an exact 9.x version: the elasticsearch client Anubis uses is pinned to major 9."
  }
}

variable "eck_operator_chart_version" {
  type        = string
  description = "Pinned version of the eck-operator Helm chart (Elastic Cloud on Kubernetes)."
}

variable "eck_elasticsearch_chart_version" {
  type        = string
  description = "Pinned version of the eck-elasticsearch Helm chart (the Elasticsearch resource ECK manages)."
}

variable "node_count" {
  type        = number
  description = "Number of Elasticsearch nodes (1 for the cheapest idle installation, 3 for resilience)."
  default     = 1

  validation {
    condition     = var.node_count >= 1 && var.node_count <= 9
    error_message = "Use between 1 and 9 Elasticsearch nodes."
  }
}

variable "memory" {
  type        = string
  description = "Memory of each Elasticsearch node (request and limit; the JVM heap takes half)."
  default     = "2Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.memory))
    error_message = "Write the memory as a Kubernetes quantity in Mi or Gi, e.g. 2Gi."
  }
}

variable "volume_size_gb" {
  type        = number
  description = "gp3 volume size of each Elasticsearch node, in GB."
  default     = 20

  validation {
    condition     = var.volume_size_gb >= 10 && var.volume_size_gb <= 1024
    error_message = "Use between 10 and 1024 GB."
  }
}

variable "fluent_bit_chart_version" {
  type        = string
  description = "Pinned version of the fluent-bit Helm chart."
}
