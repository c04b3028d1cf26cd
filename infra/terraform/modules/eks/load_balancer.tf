# AWS Load Balancer Controller: Argo CD's and Grafana's Ingresses share one internet-facing ALB
# (ingress group "anubis"), with TLS from an ACM certificate.

module "load_balancer_controller_irsa" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact released version (registry versions are immutable); a git commit pin would bypass the registry.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.52.2"

  role_name                              = "${var.cluster_name}-aws-load-balancer-controller"
  attach_load_balancer_controller_policy = true
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:aws-load-balancer-controller"]
    }
  }
  tags = var.tags
}

resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  namespace  = "kube-system"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = var.chart_versions.aws_load_balancer_controller

  values = [yamlencode({
    clusterName = module.eks.cluster_name
    region      = data.aws_region.current.name
    vpcId       = var.vpc_id
    serviceAccount = {
      name        = "aws-load-balancer-controller"
      annotations = { "eks.amazonaws.com/role-arn" = module.load_balancer_controller_irsa.iam_role_arn }
    }
    nodeSelector = { (local.node_pool_label) = "services" }
  })]

  depends_on = [module.eks]
}
