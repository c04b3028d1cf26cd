# kube-prometheus-stack (Prometheus, Alertmanager, Grafana, kube-state-metrics, node exporter) and a
# Prometheus Pushgateway that the controller pushes run series to (contracts: "Exported Prometheus
# series"). Grafana's sidecar loads every ConfigMap labelled grafana_dashboard: "1" in any namespace
# (the dashboards `anubis render` writes to manifests/system/grafana/); Prometheus selects every
# ServiceMonitor and PrometheusRule in the cluster.

locals {
  services_node = { "anubis.dev/node-pool" = "services" }
  ingress_annotations = {
    "alb.ingress.kubernetes.io/scheme"          = "internet-facing"
    "alb.ingress.kubernetes.io/target-type"     = "ip"
    "alb.ingress.kubernetes.io/group.name"      = "anubis"
    "alb.ingress.kubernetes.io/listen-ports"    = jsonencode([{ HTTPS = 443 }])
    "alb.ingress.kubernetes.io/certificate-arn" = var.certificate_arn
    "alb.ingress.kubernetes.io/ssl-policy"      = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    "alb.ingress.kubernetes.io/inbound-cidrs"   = join(",", var.ingress_allowed_cidrs)
  }
}

resource "kubernetes_namespace_v1" "monitoring" {
  metadata {
    name   = var.namespace
    labels = { "pod-security.kubernetes.io/enforce" = "privileged" } # node exporter uses host namespaces
  }
}

resource "random_password" "grafana_admin" {
  length  = 32
  special = false
}

resource "kubernetes_secret_v1" "grafana_admin" {
  metadata {
    name      = "grafana-admin"
    namespace = kubernetes_namespace_v1.monitoring.metadata[0].name
  }
  data = {
    admin-user     = "admin"
    admin-password = random_password.grafana_admin.result
  }
}

resource "helm_release" "kube_prometheus_stack" {
  name       = "kube-prometheus-stack"
  namespace  = kubernetes_namespace_v1.monitoring.metadata[0].name
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "kube-prometheus-stack"
  version    = var.chart_versions.kube_prometheus_stack
  timeout    = 900

  values = [yamlencode({
    prometheus = {
      prometheusSpec = {
        retention                               = var.prometheus_retention
        serviceMonitorSelectorNilUsesHelmValues = false
        podMonitorSelectorNilUsesHelmValues     = false
        ruleSelectorNilUsesHelmValues           = false
        nodeSelector                            = local.services_node
        storageSpec = {
          volumeClaimTemplate = {
            spec = {
              storageClassName = "gp3"
              accessModes      = ["ReadWriteOnce"]
              resources        = { requests = { storage = var.prometheus_volume_size } }
            }
          }
        }
      }
      # GPU metrics from the DCGM exporter (eks module). honorLabels keeps the exporter's own
      # pod/namespace/container labels: those of the run using the GPU, not of the exporter.
      additionalServiceMonitors = [{
        name              = "dcgm-exporter"
        selector          = { matchLabels = { "app.kubernetes.io/name" = "dcgm-exporter" } }
        namespaceSelector = { matchNames = ["nvidia"] }
        endpoints         = [{ port = "metrics", interval = "15s", honorLabels = true }]
      }]
    }
    alertmanager = {
      alertmanagerSpec = {
        nodeSelector = local.services_node
        storage = {
          volumeClaimTemplate = {
            spec = {
              storageClassName = "gp3"
              accessModes      = ["ReadWriteOnce"]
              resources        = { requests = { storage = "5Gi" } }
            }
          }
        }
      }
    }
    kube-state-metrics = {
      nodeSelector          = local.services_node
      metricLabelsAllowlist = ["pods=[${join(",", var.run_pod_labels)}]", "jobs=[${join(",", var.run_pod_labels)}]"]
    }
    prometheusOperator = { nodeSelector = local.services_node }
    grafana = {
      nodeSelector = local.services_node
      admin = {
        existingSecret = kubernetes_secret_v1.grafana_admin.metadata[0].name
        userKey        = "admin-user"
        passwordKey    = "admin-password"
      }
      "grafana.ini" = {
        server    = { root_url = "https://${var.grafana_hostname}" }
        analytics = { reporting_enabled = false, check_for_updates = false }
        auth      = { disable_login_form = false }
        users     = { allow_sign_up = false }
      }
      sidecar = {
        dashboards = {
          enabled         = true
          label           = "grafana_dashboard"
          labelValue      = "1"
          searchNamespace = "ALL"
          folderAnnotation = "grafana_folder"
          provider        = { foldersFromFilesStructure = true }
        }
        datasources = { enabled = true, defaultDatasourceEnabled = true, uid = "prometheus" }
      }
      ingress = {
        enabled          = true
        ingressClassName = "alb"
        annotations      = local.ingress_annotations
        hosts            = [var.grafana_hostname]
        path             = "/"
        pathType         = "Prefix"
      }
    }
  })]
}

resource "helm_release" "pushgateway" {
  name       = "prometheus-pushgateway"
  namespace  = kubernetes_namespace_v1.monitoring.metadata[0].name
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "prometheus-pushgateway"
  version    = var.chart_versions.pushgateway

  values = [yamlencode({
    nodeSelector     = local.services_node
    persistentVolume = { enabled = true, size = "2Gi", storageClass = "gp3" }
    # Pushed series keep their own job/benchmark/environment/run_id labels.
    serviceMonitor = { enabled = true, honorLabels = true, interval = "30s" }
  })]

  depends_on = [helm_release.kube_prometheus_stack] # the ServiceMonitor CRD
}
