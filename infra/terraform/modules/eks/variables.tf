variable "cluster_name" {
  type        = string
  description = "Name of the EKS cluster."

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,99}$", var.cluster_name))
    error_message = "A cluster name is up to 100 letters, digits and '-', starting with a letter."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the control plane and node groups (1.29 or later: runs use native sidecars)."

  validation {
    condition     = can(regex("^1\\.(29|3[0-9])$", var.kubernetes_version))
    error_message = "Use Kubernetes 1.29 or later, written as '1.MINOR' (native sidecar containers are needed)."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the cluster runs in."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for the control plane's network interfaces and the nodes."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "endpoint_public_access_cidrs" {
  type        = list(string)
  description = "CIDR blocks allowed to reach the public Kubernetes API endpoint (Terraform and kubectl). Empty: private endpoint only."

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give valid CIDR blocks, and never 0.0.0.0/0: the API endpoint must not be open to the internet."
  }
}

variable "services_instance_type" {
  type        = string
  description = "Instance type of the services node group (Argo CD, Prometheus, Grafana, the controller, ...)."
  default     = "m6i.large"
}

variable "services_node_count" {
  type = object({
    min     = number
    max     = number
    desired = number
  })
  description = "Size of the services node group (always on)."
  default     = { min = 2, max = 4, desired = 2 }

  validation {
    condition     = var.services_node_count.min >= 1 && var.services_node_count.min <= var.services_node_count.desired && var.services_node_count.desired <= var.services_node_count.max
    error_message = "The services node group needs min >= 1 and min <= desired <= max."
  }
}

variable "cpu_node_groups" {
  type = map(object({
    max_size = number
  }))
  description = "Autoscaling CPU node groups (scale to zero), one per instance type of environments/cpu-cluster.toml, keyed by instance type."

  validation {
    condition     = alltrue([for t, g in var.cpu_node_groups : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t)) && g.max_size >= 1 && g.max_size <= 100])
    error_message = "Keys are EC2 instance types (e.g. c5.xlarge) and max_size is between 1 and 100."
  }
}

variable "gpu_node_groups" {
  type = map(object({
    max_size = number
    gpus     = number
  }))
  description = "Autoscaling GPU node groups (scale to zero, tainted nvidia.com/gpu:NoSchedule), one per instance type of environments/gpu-cluster.toml, keyed by instance type; gpus is the instance type's GPU count."

  validation {
    condition     = alltrue([for t, g in var.gpu_node_groups : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t)) && g.max_size >= 1 && g.max_size <= 50 && g.gpus >= 1 && g.gpus <= 16])
    error_message = "Keys are EC2 instance types (e.g. g5.xlarge); max_size is between 1 and 50 and gpus between 1 and 16."
  }
}

variable "gpu_capacity_type" {
  type        = string
  description = "Capacity type of the GPU node groups: ON_DEMAND (stable measurements) or SPOT (cheaper, may be interrupted)."
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.gpu_capacity_type)
    error_message = "The capacity type is ON_DEMAND or SPOT."
  }
}

variable "chart_versions" {
  type = object({
    cluster_autoscaler           = string
    aws_load_balancer_controller = string
    nvidia_device_plugin         = string
    dcgm_exporter                = string
  })
  description = "Pinned versions of the cluster add-on Helm charts."
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
