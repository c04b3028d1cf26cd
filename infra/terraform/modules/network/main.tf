# The VPC: private subnets for the nodes (and EFS), public subnets for the load balancer
# and the NAT gateway, flow logs to CloudWatch Logs. Subnets carry the tags the AWS Load Balancer
# Controller and the cluster autoscaler's node groups look for.

locals {
  newbits         = 20 - tonumber(split("/", var.cidr)[1]) # /20 private subnets (4,096 pod IPs each)
  private_subnets = [for i, _ in var.availability_zones : cidrsubnet(var.cidr, local.newbits, i)]
  public_subnets  = [for i, _ in var.availability_zones : cidrsubnet(var.cidr, local.newbits + 4, 64 + i)]
}

module "vpc" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact released version (registry versions are immutable); a git commit pin would bypass the registry.
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.17.0"

  name = var.name
  cidr = var.cidr
  azs  = var.availability_zones

  private_subnets = local.private_subnets
  public_subnets  = local.public_subnets

  enable_nat_gateway     = true
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway
  enable_dns_hostnames   = true
  enable_dns_support     = true

  map_public_ip_on_launch = false

  manage_default_security_group  = true
  default_security_group_ingress = []
  default_security_group_egress  = []

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_cloudwatch_log_group_retention_in_days = var.flow_log_retention_days
  flow_log_max_aggregation_interval               = 600

  public_subnet_tags = {
    "kubernetes.io/role/elb"                    = "1"
    "kubernetes.io/cluster/${var.cluster_name}" = "shared"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb"           = "1"
    "kubernetes.io/cluster/${var.cluster_name}" = "shared"
  }

  tags = var.tags
}
