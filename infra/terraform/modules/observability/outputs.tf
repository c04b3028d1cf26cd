output "grafana_url" {
  description = "URL of Grafana."
  value       = "https://${var.grafana_hostname}"
}

output "grafana_admin_secret" {
  description = "Namespace/name of the Secret holding Grafana's admin user and password (read it with kubectl)."
  value       = "${var.namespace}/${kubernetes_secret_v1.grafana_admin.metadata[0].name}"
}

output "pushgateway_url" {
  description = "In-cluster URL of the Pushgateway (the controller's push target)."
  value       = "http://prometheus-pushgateway.${var.namespace}.svc:9091"
}

output "prometheus_url" {
  description = "In-cluster URL of Prometheus."
  value       = "http://kube-prometheus-stack-prometheus.${var.namespace}.svc:9090"
}
