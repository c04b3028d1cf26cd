variable "chart_version" {
  type        = string
  description = "Pinned version of Kueue's Helm chart (oci://registry.k8s.io/kueue/charts/kueue); the app version is the same."
}

variable "gpu_node_groups" {
  type = map(object({
    max_size = number
    gpus     = number
  }))
  description = "The GPU node groups (as in the root module): one ResourceFlavor each, keyed by instance type."
}

variable "gpu_quotas" {
  type = map(object({
    gpus   = number
    cpu    = string
    memory = string
  }))
  description = "Nominal quota of the GPU ClusterQueue per node group (instance type → GPUs, CPU, memory). A node group left out gets max_size x its GPUs, and CPU and memory enough not to be the limit."
  default     = {}

  validation {
    condition     = alltrue([for t, q in var.gpu_quotas : q.gpus >= 0 && floor(q.gpus) == q.gpus])
    error_message = "A GPU quota is a whole number of GPUs, 0 or more."
  }
}

variable "queue_namespaces" {
  type        = list(string)
  description = "Run namespaces that get a LocalQueue pointing at the GPU ClusterQueue (queue in environments/*.toml)."
}

variable "queue_prefix" {
  type        = string
  description = "Prefix of the ClusterQueue and LocalQueue of each GPU node group: anubis-p3-2xlarge for p3.2xlarge."
  default     = "anubis-"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*-)?$", var.queue_prefix))
    error_message = "The prefix is lower-case letters, digits and dashes, ending in a dash."
  }
}

variable "queue_prefix_cohort" {
  type        = string
  description = "Cohort of the GPU ClusterQueues: a queue may borrow another's unused quota within it."
  default     = "anubis"
}

variable "pods_ready_timeout" {
  type        = string
  description = "How long an admitted workload may take to have all its pods ready before Kueue evicts and requeues it (waitForPodsReady): a distributed run never holds half its GPUs for longer."
  default     = "10m"

  validation {
    condition     = can(regex("^[0-9]+(s|m|h)$", var.pods_ready_timeout))
    error_message = "Give a duration such as 10m."
  }
}
