# Anubis on AWS: from an empty account to a working installation (see ../README.md).
#
#   network ─► eks ─► storage ─► iam ─► runs ─► logging
#                 └─► observability, argocd ─► mpi-operator, kueue

data "aws_caller_identity" "current" {}

locals {
  cluster_name = var.name
  tags = merge(var.tags, {
    "app.kubernetes.io/part-of" = "anubis"
    "anubis.dev/installation"   = var.name
    "managed-by"                = "terraform"
  })

  # Pinned Helm chart versions, in one place.
  charts = {
    # Argo CD v3.3.2: the AppProject's clusterResourceWhitelist[].name (only preview Namespaces) needs
    # v3.3; an older CRD prunes the field and whitelists every Namespace (docs/manifests.md, "Argo CD";
    # tests/unit/manifests/test_crd_conformance.py checks the rendered objects against this version).
    argo_cd                      = "9.4.4"
    argocd_apps                  = "2.0.2"
    kube_prometheus_stack        = "67.4.0"
    pushgateway                  = "2.15.0"
    cluster_autoscaler           = "9.43.2"
    aws_load_balancer_controller = "1.11.0"
    nvidia_device_plugin         = "0.17.0"
    dcgm_exporter                = "3.6.1"
    fluent_bit                   = "0.48.3"
    kueue                        = "0.19.2"
    # Elasticsearch 9 in the cluster (modules/logging): ECK 3.3.0 and its Elasticsearch chart
    eck_operator      = "3.3.0"
    eck_elasticsearch = "0.18.0"
  }

  # The health checks `anubis render` writes for Argo CD (MPIJob), set in argocd-cm through Helm.
  argocd_cm_patch = yamldecode(file("${path.module}/../../manifests/argocd/argocd-cm-patch.yaml"))

  # The data fetcher's role is assumed by the fetch Jobs' service account only: the runs' own service
  # account (anubis-run) has no cloud role, so no benchmark container ever gets these credentials.
  fetcher_service_accounts = [for ns in sort(keys(var.run_namespaces)) : "${ns}:anubis-fetcher"]
}

module "network" {
  source = "./modules/network"

  name               = var.name
  cluster_name       = local.cluster_name
  cidr               = var.vpc_cidr
  availability_zones = var.availability_zones
  tags               = local.tags
}

module "eks" {
  source = "./modules/eks"

  cluster_name                 = local.cluster_name
  kubernetes_version           = var.kubernetes_version
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.private_subnet_ids
  endpoint_public_access_cidrs = var.api_allowed_cidrs
  services_instance_type       = var.services_instance_type
  cpu_node_groups              = var.cpu_node_groups
  gpu_node_groups              = var.gpu_node_groups
  gpu_capacity_type            = var.gpu_capacity_type
  chart_versions = {
    cluster_autoscaler           = local.charts.cluster_autoscaler
    aws_load_balancer_controller = local.charts.aws_load_balancer_controller
    nvidia_device_plugin         = local.charts.nvidia_device_plugin
    dcgm_exporter                = local.charts.dcgm_exporter
  }
  tags = local.tags
}

module "storage" {
  source = "./modules/storage"

  name                   = var.name
  dataset_bucket_name    = var.dataset_bucket_name
  results_bucket_name    = var.results_bucket_name
  vpc_id                 = module.network.vpc_id
  subnet_ids             = module.network.private_subnet_ids
  node_security_group_id = module.eks.node_security_group_id
  force_destroy          = var.force_destroy_buckets
  tags                   = local.tags
}

module "iam" {
  source = "./modules/iam"

  name                  = var.name
  oidc_provider_arn     = module.eks.oidc_provider_arn
  fetcher_service_accounts = local.fetcher_service_accounts
  results_bucket_arn    = module.storage.results_bucket_arn
  results_prefix        = var.results_prefix
  dataset_bucket_arn    = module.storage.dataset_bucket_arn
  kms_key_arn           = module.storage.kms_key_arn
  tags                  = local.tags
}

module "logging" {
  source = "./modules/logging"

  controller_namespace            = "anubis-system" # created by module.runs
  node_count                      = var.elasticsearch_node_count
  eck_operator_chart_version      = local.charts.eck_operator
  eck_elasticsearch_chart_version = local.charts.eck_elasticsearch
  fluent_bit_chart_version        = local.charts.fluent_bit

  depends_on = [module.eks, module.runs]
}

module "observability" {
  source = "./modules/observability"

  grafana_hostname      = var.grafana_hostname
  certificate_arn       = var.certificate_arn
  ingress_allowed_cidrs = var.ingress_allowed_cidrs
  chart_versions = {
    kube_prometheus_stack = local.charts.kube_prometheus_stack
    pushgateway           = local.charts.pushgateway
  }

  depends_on = [module.eks]
}

module "argocd" {
  source = "./modules/argocd"

  hostname                = var.argocd_hostname
  certificate_arn         = var.certificate_arn
  ingress_allowed_cidrs   = var.ingress_allowed_cidrs
  repo_url                = var.repo_url
  target_revision         = var.target_revision
  resource_customizations = local.argocd_cm_patch.data
  chart_versions = {
    argo_cd     = local.charts.argo_cd
    argocd_apps = local.charts.argocd_apps
  }

  # The system Application syncs dashboards and alert rules: Prometheus' CRDs must exist first,
  # and the run namespaces before the environments' Applications sync into them.
  depends_on = [module.eks, module.observability, module.runs]
}

module "mpi_operator" {
  source = "./modules/mpi-operator"

  argocd_namespace          = module.argocd.namespace
  operator_version          = var.mpi_operator_version
  argocd_apps_chart_version = local.charts.argocd_apps
}

module "runs" {
  source = "./modules/runs"

  run_namespaces               = var.run_namespaces
  fetcher_role_arn             = module.iam.fetcher_role_arn
  controller_role_arn          = module.iam.controller_role_arn
  dataset_cache_file_system_id = module.storage.dataset_cache_file_system_id

  depends_on = [module.eks]
}

module "kueue" {
  source = "./modules/kueue"

  chart_version      = local.charts.kueue
  gpu_node_groups    = var.gpu_node_groups
  gpu_quotas         = var.gpu_queue_quotas
  queue_namespaces   = var.queue_namespaces
  pods_ready_timeout = var.queue_pods_ready_timeout

  depends_on = [module.eks, module.runs]
}
