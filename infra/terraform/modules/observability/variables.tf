variable "namespace" {
  type        = string
  description = "Namespace of Prometheus, Alertmanager, Grafana and the Pushgateway."
  default     = "monitoring"
}

variable "grafana_hostname" {
  type        = string
  description = "Host name Grafana is served at (a DNS name pointing at the shared load balancer)."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.grafana_hostname))
    error_message = "Give a fully qualified lower-case host name, e.g. grafana.example.com."
  }
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for the load balancer's HTTPS listener (covering the Grafana and Argo CD host names)."
}

variable "ingress_allowed_cidrs" {
  type        = list(string)
  description = "CIDR blocks allowed to reach Grafana and Argo CD through the load balancer."
}

variable "prometheus_retention" {
  type        = string
  description = "How long Prometheus keeps samples (Prometheus duration, e.g. 30d)."
  default     = "30d"

  validation {
    condition     = can(regex("^[0-9]+(h|d|w|y)$", var.prometheus_retention))
    error_message = "Write the retention as a Prometheus duration: a number and h, d, w or y."
  }
}

variable "prometheus_volume_size" {
  type        = string
  description = "Size of Prometheus' volume (Kubernetes quantity)."
  default     = "50Gi"

  validation {
    condition     = can(regex("^[0-9]+Gi$", var.prometheus_volume_size))
    error_message = "Write the size in Gi, e.g. 50Gi."
  }
}

variable "run_pod_labels" {
  type        = list(string)
  description = "Pod labels kube-state-metrics exposes in kube_pod_labels (the dashboards join CPU, memory and GPU use to runs with them)."
  default     = ["anubis.dev/run-id", "anubis.dev/benchmark", "anubis.dev/environment", "anubis.dev/family", "anubis.dev/role"]
}

variable "chart_versions" {
  type = object({
    kube_prometheus_stack = string
    pushgateway           = string
  })
  description = "Pinned versions of the Helm charts."
}
