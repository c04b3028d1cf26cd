# The EKS cluster and its node groups.
#
# * services: always on, runs Argo CD, the monitoring stack, the logging agent and the controller;
# * cpu-<type>: one autoscaling group per CPU instance type of environments/cpu-cluster.toml, from zero;
# * gpu-<type>: one per GPU instance type of environments/gpu-cluster.toml, from zero, tainted
#   nvidia.com/gpu:NoSchedule (the environments' tolerations match it).
#
# A run selects its node by `node.kubernetes.io/instance-type` and `anubis.dev/node-pool`, so every
# instance type has a group of its own: the cluster autoscaler then knows exactly which group to grow
# for a pending pod, also from zero (see the node-template tags in autoscaling.tf).

data "aws_region" "current" {}

locals {
  node_pool_label = "anubis.dev/node-pool"
  gpu_taint_key   = "nvidia.com/gpu"

  cpu_groups = {
    for type, g in var.cpu_node_groups : "cpu-${replace(type, ".", "-")}" => {
      instance_type = type
      max_size      = g.max_size
      pool          = "cpu"
      gpus          = 0
    }
  }
  gpu_groups = {
    for type, g in var.gpu_node_groups : "gpu-${replace(type, ".", "-")}" => {
      instance_type = type
      max_size      = g.max_size
      pool          = "gpu"
      gpus          = g.gpus
    }
  }
  run_groups = merge(local.cpu_groups, local.gpu_groups)

  root_volume = {
    xvda = {
      device_name = "/dev/xvda"
      ebs = {
        volume_size           = 50
        volume_type           = "gp3"
        encrypted             = true
        delete_on_termination = true
      }
    }
  }
  gpu_root_volume = {
    xvda = {
      device_name = "/dev/xvda"
      ebs = {
        volume_size           = 200 # CUDA images are large
        volume_type           = "gp3"
        encrypted             = true
        delete_on_termination = true
      }
    }
  }
}

module "eks" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact released version (registry versions are immutable); a git commit pin would bypass the registry.
  source  = "terraform-aws-modules/eks/aws"
  version = "20.31.6"

  cluster_name    = var.cluster_name
  cluster_version = var.kubernetes_version

  vpc_id                   = var.vpc_id
  subnet_ids               = var.subnet_ids
  control_plane_subnet_ids = var.subnet_ids

  cluster_endpoint_private_access      = true
  cluster_endpoint_public_access       = length(var.endpoint_public_access_cidrs) > 0
  cluster_endpoint_public_access_cidrs = var.endpoint_public_access_cidrs

  # Secrets encrypted with a customer-managed KMS key; control plane logs to CloudWatch Logs.
  create_kms_key                         = true
  cluster_encryption_config              = { resources = ["secrets"] }
  cluster_enabled_log_types              = ["api", "audit", "authenticator"]
  cloudwatch_log_group_retention_in_days = 90

  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = true
  enable_irsa                              = true

  cluster_addons = {
    coredns    = { most_recent = true }
    kube-proxy = { most_recent = true }
    vpc-cni    = { most_recent = true, before_compute = true }
    aws-ebs-csi-driver = {
      most_recent              = true
      service_account_role_arn = module.ebs_csi_irsa.iam_role_arn
    }
    aws-efs-csi-driver = {
      most_recent              = true
      service_account_role_arn = module.efs_csi_irsa.iam_role_arn
    }
  }

  eks_managed_node_group_defaults = {
    ami_type                   = "AL2023_x86_64_STANDARD"
    enable_monitoring          = true
    use_custom_launch_template = true
    metadata_options = {
      http_endpoint               = "enabled"
      http_tokens                 = "required" # IMDSv2 only
      http_put_response_hop_limit = 1          # pods use IRSA, never the node's role
    }
  }

  eks_managed_node_groups = merge(
    {
      services = {
        name                  = "services"
        instance_types        = [var.services_instance_type]
        min_size              = var.services_node_count.min
        max_size              = var.services_node_count.max
        desired_size          = var.services_node_count.desired
        block_device_mappings = local.root_volume
        labels                = { (local.node_pool_label) = "services" }
      }
    },
    {
      for name, g in local.run_groups : name => {
        name                  = name
        instance_types        = [g.instance_type]
        ami_type              = g.pool == "gpu" ? "AL2023_x86_64_NVIDIA" : "AL2023_x86_64_STANDARD"
        capacity_type         = g.pool == "gpu" ? var.gpu_capacity_type : "ON_DEMAND"
        min_size              = 0
        max_size              = g.max_size
        desired_size          = 0
        block_device_mappings = g.pool == "gpu" ? local.gpu_root_volume : local.root_volume
        labels                = { (local.node_pool_label) = g.pool }
        taints = g.pool == "gpu" ? {
          gpu = { key = local.gpu_taint_key, value = "true", effect = "NO_SCHEDULE" }
        } : {}
        tags = {
          "k8s.io/cluster-autoscaler/enabled"             = "true"
          "k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
        }
      }
    },
  )

  tags = var.tags
}

module "ebs_csi_irsa" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact released version (registry versions are immutable); a git commit pin would bypass the registry.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.52.2"

  role_name             = "${var.cluster_name}-ebs-csi"
  attach_ebs_csi_policy = true
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:ebs-csi-controller-sa"]
    }
  }
  tags = var.tags
}

module "efs_csi_irsa" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact released version (registry versions are immutable); a git commit pin would bypass the registry.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.52.2"

  role_name             = "${var.cluster_name}-efs-csi"
  attach_efs_csi_policy = true
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:efs-csi-controller-sa", "kube-system:efs-csi-node-sa"]
    }
  }
  tags = var.tags
}

# gp3, encrypted, as the default class (Prometheus, Alertmanager and Grafana claim volumes).
resource "kubernetes_storage_class_v1" "gp3" {
  metadata {
    name        = "gp3"
    annotations = { "storageclass.kubernetes.io/is-default-class" = "true" }
  }
  storage_provisioner    = "ebs.csi.aws.com"
  reclaim_policy         = "Delete"
  volume_binding_mode    = "WaitForFirstConsumer"
  allow_volume_expansion = true
  parameters = {
    type      = "gp3"
    encrypted = "true"
  }

  depends_on = [module.eks]
}
