output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 certificate authority of the Kubernetes API."
  value       = module.eks.cluster_certificate_authority_data
}

output "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (IRSA)."
  value       = module.eks.oidc_provider_arn
}

output "node_security_group_id" {
  description = "Security group of the nodes (EFS admits it)."
  value       = module.eks.node_security_group_id
}

output "node_pools" {
  description = "Node group name → instance type and pool, as the environments under environments/ select them."
  value       = { for name, g in local.run_groups : name => { instance_type = g.instance_type, pool = g.pool } }
}

output "ready" {
  description = "Set once the add-ons the other modules rely on (storage class, load balancer controller) exist; depend on it."
  value       = "ready"
  depends_on  = [kubernetes_storage_class_v1.gp3, helm_release.aws_load_balancer_controller]
}
