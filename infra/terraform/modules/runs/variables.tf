variable "run_namespaces" {
  type = map(object({
    pod_security = string
  }))
  description = "Namespaces runs are synced into (destination.namespace of environments/*.toml) → Pod Security level enforced there."

  validation {
    condition     = alltrue([for ns, v in var.run_namespaces : can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", ns)) && contains(["baseline", "restricted", "privileged"], v.pod_security)])
    error_message = "Namespaces are DNS labels and pod_security is baseline, restricted or privileged."
  }
}

variable "run_service_account" {
  type        = string
  description = "Service account of the runs' pods (service_account in environments/*.toml); it has no cloud role."
  default     = "anubis-run"
}

variable "fetcher_service_account" {
  type        = string
  description = "Service account of the fetch Jobs (fetcher_service_account in environments/*.toml), bound to the fetcher's role."
  default     = "anubis-fetcher"
}

variable "fetcher_role_arn" {
  type        = string
  description = "IAM role of the data fetcher, bound to the fetch Jobs' service account (IRSA)."
}

variable "controller_namespace" {
  type        = string
  description = "Namespace of the Anubis controller."
  default     = "anubis-system"
}

variable "controller_service_account" {
  type        = string
  description = "Service account of the Anubis controller."
  default     = "anubis-controller"
}

variable "controller_role_arn" {
  type        = string
  description = "IAM role of the controller, bound to its service account (IRSA)."
}

variable "dataset_cache_claim" {
  type        = string
  description = "Name of the dataset cache PVC in every run namespace (dataset_cache.claim_name in environments/*.toml)."
  default     = "anubis-dataset-cache"
}

variable "dataset_cache_file_system_id" {
  type        = string
  description = "EFS file system behind the dataset cache PVCs."
}

variable "dataset_cache_size" {
  type        = string
  description = "Requested size of each dataset cache PVC (EFS is elastic; Kubernetes requires a figure)."
  default     = "500Gi"
}
