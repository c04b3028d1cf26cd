output "opensearch_endpoint" {
  description = "HTTPS endpoint of the OpenSearch domain (inside the VPC)."
  value       = "https://${aws_opensearch_domain.logs.endpoint}"
}

output "opensearch_dashboards_url" {
  description = "URL of OpenSearch Dashboards (reachable from inside the VPC, e.g. through kubectl port-forward)."
  value       = "https://${aws_opensearch_domain.logs.dashboard_endpoint}"
}

output "domain_arn" {
  description = "ARN of the OpenSearch domain."
  value       = aws_opensearch_domain.logs.arn
}
