# GPUs: the NVIDIA device plugin advertises `nvidia.com/gpu` on the GPU nodes (the AL2023 NVIDIA AMI
# brings the driver and the container toolkit) and the DCGM exporter publishes their metrics
# (DCGM_FI_DEV_GPU_UTIL, ...) with the pod, namespace and container of the process using each GPU.
# Prometheus scrapes it through the ServiceMonitor the observability module declares.

locals {
  gpu_tolerations = [{ key = local.gpu_taint_key, operator = "Exists", effect = "NoSchedule" }]
  gpu_node_selector = { (local.node_pool_label) = "gpu" }
}

resource "helm_release" "nvidia_device_plugin" {
  name             = "nvidia-device-plugin"
  namespace        = "nvidia"
  create_namespace = true
  repository       = "https://nvidia.github.io/k8s-device-plugin"
  chart            = "nvidia-device-plugin"
  version          = var.chart_versions.nvidia_device_plugin

  values = [yamlencode({
    nodeSelector = local.gpu_node_selector
    tolerations  = local.gpu_tolerations
    gfd          = { enabled = false }
  })]

  depends_on = [module.eks]
}

resource "helm_release" "dcgm_exporter" {
  name             = "dcgm-exporter"
  namespace        = "nvidia"
  create_namespace = true
  repository       = "https://nvidia.github.io/dcgm-exporter/helm-charts"
  chart            = "dcgm-exporter"
  version          = var.chart_versions.dcgm_exporter

  values = [yamlencode({
    nodeSelector   = local.gpu_node_selector
    tolerations    = local.gpu_tolerations
    serviceMonitor = { enabled = false } # declared by the observability module, after its CRDs exist
    service        = { enabled = true }
    kubernetes     = { enablePodLabels = true }
    extraEnv       = [{ name = "DCGM_EXPORTER_KUBERNETES", value = "true" }]
  })]

  depends_on = [helm_release.nvidia_device_plugin]
}
