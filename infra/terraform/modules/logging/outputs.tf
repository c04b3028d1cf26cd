output "elasticsearch_url" {
  description = "In-cluster URL of Elasticsearch (no credentials; the controller's, with them, is in the Secret controller_url_secret)."
  value       = local.service_url
}

output "controller_url_secret" {
  description = "Namespace/name of the Secret holding the controller's Elasticsearch URL with its credentials (key url)."
  value       = "${var.controller_namespace}/${kubernetes_secret_v1.controller_url.metadata[0].name}"
}

output "elasticsearch_version" {
  description = "The Elasticsearch version deployed (the client in pyproject.toml is pinned to its major)."
  value       = var.elasticsearch_version
}
