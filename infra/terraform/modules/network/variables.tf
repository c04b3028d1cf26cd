variable "name" {
  type        = string
  description = "Name of the installation; prefixes the VPC and its subnets."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 lower-case letters, digits and '-', starting with a letter."
  }
}

variable "cluster_name" {
  type        = string
  description = "Name of the EKS cluster that will use the VPC (subnets are tagged for its load balancers)."
}

variable "cidr" {
  type        = string
  description = "IPv4 CIDR block of the VPC."
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && tonumber(split("/", var.cidr)[1]) <= 20
    error_message = "The VPC CIDR must be a valid IPv4 block of /20 or larger."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Availability zones to spread the subnets over (at least two: EKS requires it)."

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4
    error_message = "Give between two and four availability zones."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway for all zones (cheaper) instead of one per zone (survives a zone outage)."
  default     = true
}

variable "flow_log_retention_days" {
  type        = number
  description = "Days to keep the VPC flow logs in CloudWatch Logs."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653], var.flow_log_retention_days)
    error_message = "Use a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... days)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
