variable "name" {
  type        = string
  description = "Name of the installation: prefixes the VPC, the cluster and the roles."
  default     = "anubis"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,22}$", var.name))
    error_message = "The name must be 3-23 lower-case letters, digits and '-', starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "AWS region (result_store.region in environments/*.toml)."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "Give an AWS region name such as us-east-1."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Availability zones of the VPC's subnets (two or three; GPU types are not offered in every zone: check p3/g5 availability)."
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4
    error_message = "Give between two and four availability zones."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR block of the VPC."
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "Give a valid IPv4 CIDR block."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the cluster (1.29 or later)."
  default     = "1.31"

  validation {
    condition     = can(regex("^1\\.(29|3[0-9])$", var.kubernetes_version))
    error_message = "Use Kubernetes 1.29 or later, written as '1.MINOR'."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDR blocks allowed to reach the Kubernetes API (where Terraform and kubectl run from)."

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one valid CIDR block, and never 0.0.0.0/0."
  }
}

variable "ingress_allowed_cidrs" {
  type        = list(string)
  description = "CIDR blocks allowed to reach Argo CD and Grafana through the load balancer."

  validation {
    condition     = length(var.ingress_allowed_cidrs) > 0 && alltrue([for c in var.ingress_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "Give at least one valid CIDR block."
  }
}

variable "argocd_hostname" {
  type        = string
  description = "Host name of Argo CD (links.argocd_url in environments/*.toml points there)."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.argocd_hostname))
    error_message = "Give a fully qualified lower-case host name, e.g. argocd.example.com."
  }
}

variable "grafana_hostname" {
  type        = string
  description = "Host name of Grafana (links.grafana_url in environments/*.toml points there)."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.grafana_hostname))
    error_message = "Give a fully qualified lower-case host name, e.g. grafana.example.com."
  }
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate (in var.region) covering both host names, for the load balancer's HTTPS listener."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "Give the ARN of an ACM certificate."
  }
}

variable "repo_url" {
  type        = string
  description = "HTTPS URL of the benchmarks repository Argo CD syncs manifests/ from."
  default     = "https://github.com/anubis-bench/anubis"

  validation {
    condition     = can(regex("^https://github\\.com/[^/]+/[^/]+$", var.repo_url))
    error_message = "Give the repository's https://github.com/<owner>/<repo> URL."
  }
}

variable "target_revision" {
  type        = string
  description = "Branch Argo CD's bootstrap Applications follow."
  default     = "main"
}

variable "dataset_bucket_name" {
  type        = string
  description = "Globally unique name of the dataset bucket."
}

variable "results_bucket_name" {
  type        = string
  description = "Globally unique name of the results bucket (must equal result_store.bucket in environments/*.toml)."
}

variable "results_prefix" {
  type        = string
  description = "Key prefix of result records (result_store.prefix in environments/*.toml)."
  default     = "results/"

  validation {
    condition     = endswith(var.results_prefix, "/")
    error_message = "The prefix ends in '/'."
  }
}

variable "services_instance_type" {
  type        = string
  description = "Instance type of the always-on services node group."
  default     = "m6i.large"
}

variable "cpu_node_groups" {
  type = map(object({
    max_size = number
  }))
  description = "CPU node groups (scale to zero), keyed by the instance types of environments/cpu-cluster.toml."
  default = {
    "t3.small"    = { max_size = 10 }
    "t3.medium"   = { max_size = 10 }
    "c5.xlarge"   = { max_size = 10 }
    "c5.2xlarge"  = { max_size = 10 }
    "c5.4xlarge"  = { max_size = 5 }
    "c5.18xlarge" = { max_size = 2 }
  }

  validation {
    condition     = length(var.cpu_node_groups) > 0
    error_message = "Give at least one CPU instance type."
  }
}

variable "gpu_node_groups" {
  type = map(object({
    max_size = number
    gpus     = number
  }))
  description = "GPU node groups (scale to zero, tainted nvidia.com/gpu), keyed by the instance types of environments/gpu-cluster.toml; gpus = GPUs per instance."
  default = {
    "g4dn.xlarge" = { max_size = 4, gpus = 1 }
    "g5.xlarge"   = { max_size = 4, gpus = 1 }
    "p3.2xlarge"  = { max_size = 4, gpus = 1 }
    "p3.8xlarge"  = { max_size = 2, gpus = 4 }
    "p3.16xlarge" = { max_size = 4, gpus = 8 }
  }
}

variable "gpu_capacity_type" {
  type        = string
  description = "ON_DEMAND (stable measurements) or SPOT (cheaper, interruptible) for the GPU node groups."
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.gpu_capacity_type)
    error_message = "The capacity type is ON_DEMAND or SPOT."
  }
}

variable "run_namespaces" {
  type = map(object({
    pod_security = string
  }))
  description = "Run namespaces (destination.namespace of environments/*.toml) → enforced Pod Security level (privileged where the environment's policy allows privileged runs)."
  default = {
    "anubis-runs"     = { pod_security = "baseline" }
    "anubis-gpu-runs" = { pod_security = "privileged" }
  }
}

variable "elasticsearch_node_count" {
  type        = number
  description = "Number of Elasticsearch nodes for the run logs (1 for the cheapest idle installation, 3 for resilience)."
  default     = 1

  validation {
    condition     = var.elasticsearch_node_count >= 1
    error_message = "Use at least one Elasticsearch node."
  }
}

variable "mpi_operator_version" {
  type        = string
  description = "Release tag of kubeflow/mpi-operator."
  default     = "v0.6.0"
}

variable "force_destroy_buckets" {
  type        = bool
  description = "Let `terraform destroy` delete non-empty buckets (the result history is lost)."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Extra tags on every AWS resource."
  default     = {}
}

variable "gpu_queue_quotas" {
  type = map(object({
    gpus   = number
    cpu    = string
    memory = string
  }))
  description = "Nominal quota of Kueue's GPU ClusterQueue per GPU node group (instance type -> GPUs, CPU, memory); a node group left out gets max_size x its GPUs."
  default     = {}
}

variable "queue_namespaces" {
  type        = list(string)
  description = "Run namespaces that get Kueue's LocalQueue anubis-gpu (the queue environments/gpu-cluster.toml names)."
  default     = ["anubis-gpu-runs"]
}

variable "queue_pods_ready_timeout" {
  type        = string
  description = "How long an admitted run may take to have all its pods ready before Kueue evicts and requeues it."
  default     = "10m"

  validation {
    condition     = can(regex("^[0-9]+(s|m|h)$", var.queue_pods_ready_timeout))
    error_message = "Give a duration such as 10m."
  }
}
