variable "argocd_namespace" {
  type        = string
  description = "Namespace of Argo CD, which installs the operator."
  default     = "argocd"
}

variable "operator_version" {
  type        = string
  description = "Release tag of kubeflow/mpi-operator to install (v0.5.0 or later serves kubeflow.org/v2beta1 MPIJobs)."
  default     = "v0.6.0"

  validation {
    condition     = can(regex("^v0\\.([5-9]|[1-9][0-9])\\.[0-9]+$", var.operator_version))
    error_message = "Give a release tag v0.5.0 or later (MPIJob v2beta1), e.g. v0.6.0."
  }
}

variable "argocd_apps_chart_version" {
  type        = string
  description = "Pinned version of the argocd-apps Helm chart."
}
