# Argo CD, installed with Helm, and bootstrapped GitOps-style ("app of apps"):
#
# * `anubis-bootstrap` syncs manifests/argocd/ — the AppProject, one Application per cluster environment
#   and the preview ApplicationSets that `anubis render` writes. That folder's argocd-cm-patch.yaml is
#   excluded: its keys (health checks) are set here, in the Helm values, where argocd-cm is owned.
# * `anubis-system` syncs manifests/system/ (the controller, Grafana dashboards, Prometheus rules).

locals {
  ingress_annotations = {
    "alb.ingress.kubernetes.io/scheme"           = "internet-facing"
    "alb.ingress.kubernetes.io/target-type"      = "ip"
    "alb.ingress.kubernetes.io/group.name"       = "anubis"
    "alb.ingress.kubernetes.io/listen-ports"     = jsonencode([{ HTTPS = 443 }])
    "alb.ingress.kubernetes.io/certificate-arn"  = var.certificate_arn
    "alb.ingress.kubernetes.io/ssl-policy"       = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    "alb.ingress.kubernetes.io/inbound-cidrs"    = join(",", var.ingress_allowed_cidrs)
    "alb.ingress.kubernetes.io/backend-protocol" = "HTTP"
  }
  sync_policy = {
    automated   = { prune = true, selfHeal = true }
    syncOptions = ["ServerSideApply=true"]
    retry       = { limit = 5, backoff = { duration = "10s", factor = 2, maxDuration = "3m" } }
  }
}

resource "helm_release" "argo_cd" {
  name             = "argocd"
  namespace        = var.namespace
  create_namespace = true
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-cd"
  version          = var.chart_versions.argo_cd
  timeout          = 900

  values = [yamlencode({
    global = { nodeSelector = { "anubis.dev/node-pool" = "services" } }
    configs = {
      params = { "server.insecure" = true } # TLS ends at the load balancer
      cm = merge(
        {
          url                        = "https://${var.hostname}"
          "admin.enabled"            = true
          "exec.enabled"             = false
          "timeout.reconciliation"   = "180s"
          "application.instanceLabelKey" = "argocd.argoproj.io/instance"
        },
        var.resource_customizations,
      )
    }
    server = {
      ingress = {
        enabled          = true
        ingressClassName = "alb"
        hostname         = var.hostname
        annotations      = local.ingress_annotations
        tls              = false
      }
    }
  })]
}

resource "helm_release" "bootstrap" {
  name       = "anubis-bootstrap"
  namespace  = var.namespace
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = var.chart_versions.argocd_apps

  values = [yamlencode({
    applications = {
      anubis-bootstrap = {
        namespace  = var.namespace
        project    = "default"
        finalizers = ["resources-finalizer.argocd.argoproj.io"]
        source = {
          repoURL        = var.repo_url
          targetRevision = var.target_revision
          path           = "manifests/argocd"
          directory      = { recurse = false, include = "*.yaml", exclude = "argocd-cm-patch.yaml" }
        }
        destination = { server = "https://kubernetes.default.svc", namespace = var.namespace }
        syncPolicy  = local.sync_policy
      }
      anubis-system = {
        namespace  = var.namespace
        project    = "default"
        finalizers = ["resources-finalizer.argocd.argoproj.io"]
        source = {
          repoURL        = var.repo_url
          targetRevision = var.target_revision
          path           = "manifests/system"
          directory      = { recurse = true, include = "*.yaml" }
        }
        destination = { server = "https://kubernetes.default.svc", namespace = var.system_namespace }
        syncPolicy  = local.sync_policy
      }
    }
  })]

  depends_on = [helm_release.argo_cd]
}
