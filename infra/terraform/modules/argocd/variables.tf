variable "namespace" {
  type        = string
  description = "Namespace Argo CD is installed in (the generated Applications name 'argocd')."
  default     = "argocd"
}

variable "hostname" {
  type        = string
  description = "Host name Argo CD's UI and API are served at (a DNS name pointing at the shared load balancer)."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.hostname))
    error_message = "Give a fully qualified lower-case host name, e.g. argocd.example.com."
  }
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for the load balancer's HTTPS listener."
}

variable "ingress_allowed_cidrs" {
  type        = list(string)
  description = "CIDR blocks allowed to reach Argo CD through the load balancer."
}

variable "repo_url" {
  type        = string
  description = "HTTPS URL of the benchmarks repository (the one holding manifests/)."

  validation {
    condition     = can(regex("^https://github\\.com/[^/]+/[^/]+?(\\.git)?$", var.repo_url))
    error_message = "Give the repository's https://github.com/<owner>/<repo> URL (the preview ApplicationSets use GitHub's API)."
  }
}

variable "target_revision" {
  type        = string
  description = "Branch the bootstrap Applications follow."
  default     = "main"
}

variable "resource_customizations" {
  type        = map(string)
  description = "argocd-cm keys to add (the MPIJob health check of manifests/argocd/argocd-cm-patch.yaml)."
  default     = {}
}

variable "system_namespace" {
  type        = string
  description = "Destination namespace of the system Application (manifests/system/: controller, dashboards, alert rules)."
  default     = "anubis-system"
}

variable "chart_versions" {
  type = object({
    argo_cd      = string
    argocd_apps  = string
  })
  description = "Pinned versions of the argo-cd and argocd-apps Helm charts."
}
