# What environments/*.toml expect to find in the cluster (Argo CD syncs with CreateNamespace=false):
# the run namespaces with their Pod Security level, the runs' service account (no cloud role: on EKS
# every container of a pod gets its service account's IRSA credentials, the benchmark's included), the
# fetch Jobs' service account bound to the data fetcher's role, the shared dataset cache PVC (EFS,
# ReadWriteMany: every node mounts it, so a fetch Job writes what the run's pods read), and the
# controller's namespace and service account bound to its role.

resource "kubernetes_namespace_v1" "runs" {
  for_each = var.run_namespaces

  metadata {
    name = each.key
    labels = {
      "app.kubernetes.io/part-of"          = "anubis"
      "pod-security.kubernetes.io/enforce" = each.value.pod_security
      "pod-security.kubernetes.io/warn"    = "baseline"
      "pod-security.kubernetes.io/audit"   = "restricted"
    }
  }
}

resource "kubernetes_service_account_v1" "run" {
  for_each = kubernetes_namespace_v1.runs

  metadata {
    name      = var.run_service_account
    namespace = each.value.metadata[0].name
  }
  automount_service_account_token = false
}

resource "kubernetes_service_account_v1" "fetcher" {
  for_each = kubernetes_namespace_v1.runs

  metadata {
    name        = var.fetcher_service_account
    namespace   = each.value.metadata[0].name
    annotations = { "eks.amazonaws.com/role-arn" = var.fetcher_role_arn }
  }
  automount_service_account_token = false
}

resource "kubernetes_storage_class_v1" "efs" {
  metadata {
    name = "efs-dataset-cache"
  }
  storage_provisioner = "efs.csi.aws.com"
  reclaim_policy      = "Retain"
  parameters = {
    provisioningMode = "efs-ap"
    fileSystemId     = var.dataset_cache_file_system_id
    directoryPerms   = "0775"
    gid              = "1000"
    basePath         = "/anubis"
  }
}

resource "kubernetes_persistent_volume_claim_v1" "dataset_cache" {
  for_each = kubernetes_namespace_v1.runs

  metadata {
    name      = var.dataset_cache_claim
    namespace = each.value.metadata[0].name
  }
  spec {
    access_modes       = ["ReadWriteMany"]
    storage_class_name = kubernetes_storage_class_v1.efs.metadata[0].name
    resources {
      requests = { storage = var.dataset_cache_size }
    }
  }
  wait_until_bound = false
}

resource "kubernetes_namespace_v1" "controller" {
  metadata {
    name = var.controller_namespace
    labels = {
      "app.kubernetes.io/part-of"          = "anubis"
      "pod-security.kubernetes.io/enforce" = "restricted"
    }
  }
}

resource "kubernetes_service_account_v1" "controller" {
  metadata {
    name        = var.controller_service_account
    namespace   = kubernetes_namespace_v1.controller.metadata[0].name
    annotations = { "eks.amazonaws.com/role-arn" = var.controller_role_arn }
  }
}
