# The Kubeflow MPI Operator (v2, kubeflow.org/v2beta1 MPIJob), installed by Argo CD from the
# operator's own standalone manifests at a release tag: the project publishes no Helm chart, and the
# CRD is too large for a client-side apply (server-side apply is used).

resource "helm_release" "mpi_operator" {
  name       = "mpi-operator"
  namespace  = var.argocd_namespace
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = var.argocd_apps_chart_version

  values = [yamlencode({
    applications = {
      mpi-operator = {
        namespace  = var.argocd_namespace
        project    = "default"
        finalizers = ["resources-finalizer.argocd.argoproj.io"]
        source = {
          repoURL        = "https://github.com/kubeflow/mpi-operator"
          targetRevision = var.operator_version
          path           = "manifests/overlays/standalone"
        }
        destination = { server = "https://kubernetes.default.svc", namespace = "mpi-operator" }
        syncPolicy = {
          automated   = { prune = true, selfHeal = true }
          syncOptions = ["ServerSideApply=true", "CreateNamespace=true"]
        }
      }
    }
  })]
}
