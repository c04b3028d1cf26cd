output "argocd_url" {
  description = "URL of Argo CD (point a DNS record for the host name at the load balancer first)."
  value       = module.argocd.url
}

output "grafana_url" {
  description = "URL of Grafana; the per-benchmark dashboards are under /d/anubis-<benchmark>, the operational one at /d/anubis-runs."
  value       = module.observability.grafana_url
}

output "grafana_admin_secret" {
  description = "Namespace/name of the Secret with Grafana's admin password (kubectl -n monitoring get secret grafana-admin)."
  value       = module.observability.grafana_admin_secret
}

output "argocd_initial_admin_secret" {
  description = "Namespace/name of the Secret with Argo CD's initial admin password."
  value       = module.argocd.initial_admin_secret
}

output "cluster_name" {
  description = "Name of the EKS cluster (aws eks update-kubeconfig --name <this>)."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API."
  value       = module.eks.cluster_endpoint
}

output "node_pools" {
  description = "Run node groups and the instance type and pool label each offers."
  value       = module.eks.node_pools
}

output "pushgateway_url" {
  description = "In-cluster Pushgateway URL for the controller's Prometheus exporter."
  value       = module.observability.pushgateway_url
}

output "elasticsearch_url" {
  description = "In-cluster URL of Elasticsearch (run logs); the controller's URL with credentials is in the Secret named by elasticsearch_controller_secret."
  value       = module.logging.elasticsearch_url
}

output "elasticsearch_controller_secret" {
  description = "Namespace/name of the Secret with the controller's Elasticsearch URL and credentials (key url)."
  value       = module.logging.controller_url_secret
}

output "results_bucket" {
  description = "Results bucket (result_store.bucket of the cluster environments)."
  value       = module.storage.results_bucket_name
}

output "dataset_bucket" {
  description = "Dataset bucket."
  value       = module.storage.dataset_bucket_name
}

output "controller_role_arn" {
  description = "IAM role of the controller's service account."
  value       = module.iam.controller_role_arn
}

output "fetcher_role_arn" {
  description = "IAM role of the runs' service account (data fetcher)."
  value       = module.iam.fetcher_role_arn
}
