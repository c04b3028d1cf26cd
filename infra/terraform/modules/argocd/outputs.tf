output "url" {
  description = "URL of Argo CD."
  value       = "https://${var.hostname}"
}

output "namespace" {
  description = "Namespace Argo CD runs in."
  value       = helm_release.argo_cd.namespace
}

output "initial_admin_secret" {
  description = "Namespace/name of the Secret with Argo CD's initial admin password (delete it after the first login)."
  value       = "${var.namespace}/argocd-initial-admin-secret"
}
