# Cluster autoscaler: grows a run node group when a pod is pending for it, shrinks it back to zero.
#
# Scaling from zero: with no node in a group, the autoscaler learns what a new node would offer from
# the group's Auto Scaling group tags (`k8s.io/cluster-autoscaler/node-template/...`): its node-pool
# label, its GPU taint and its GPU count. EKS does not copy node group labels and taints to the Auto
# Scaling group, so they are tagged here.

locals {
  node_template_tags = merge(
    {
      for name, g in local.run_groups : "${name}/pool" => {
        group = name
        key   = "k8s.io/cluster-autoscaler/node-template/label/${local.node_pool_label}"
        value = g.pool
      }
    },
    {
      for name, g in local.gpu_groups : "${name}/taint" => {
        group = name
        key   = "k8s.io/cluster-autoscaler/node-template/taint/${local.gpu_taint_key}"
        value = "true:NoSchedule"
      }
    },
    {
      for name, g in local.gpu_groups : "${name}/gpus" => {
        group = name
        key   = "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"
        value = tostring(g.gpus)
      }
    },
  )
}

resource "aws_autoscaling_group_tag" "node_template" {
  for_each = local.node_template_tags

  autoscaling_group_name = module.eks.eks_managed_node_groups[each.value.group].node_group_autoscaling_group_names[0]

  tag {
    key                 = each.value.key
    value               = each.value.value
    propagate_at_launch = false
  }
}

module "cluster_autoscaler_irsa" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact released version (registry versions are immutable); a git commit pin would bypass the registry.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.52.2"

  role_name                        = "${var.cluster_name}-cluster-autoscaler"
  attach_cluster_autoscaler_policy = true
  cluster_autoscaler_cluster_names = [module.eks.cluster_name] # only this cluster's tagged groups
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:cluster-autoscaler"]
    }
  }
  tags = var.tags
}

resource "helm_release" "cluster_autoscaler" {
  name       = "cluster-autoscaler"
  namespace  = "kube-system"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = var.chart_versions.cluster_autoscaler

  values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = data.aws_region.current.name
    autoDiscovery = { clusterName = module.eks.cluster_name }
    rbac = {
      serviceAccount = {
        name        = "cluster-autoscaler"
        annotations = { "eks.amazonaws.com/role-arn" = module.cluster_autoscaler_irsa.iam_role_arn }
      }
    }
    nodeSelector = { (local.node_pool_label) = "services" }
    extraArgs = {
      "balance-similar-node-groups"   = "false"
      "expander"                      = "least-waste"
      "scale-down-unneeded-time"      = "10m"
      "scale-down-delay-after-add"    = "5m"
      "skip-nodes-with-local-storage" = "false"
    }
  })]

  depends_on = [module.eks]
}
