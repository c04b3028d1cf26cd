output "run_namespaces" {
  description = "The run namespaces created."
  value       = sort(keys(kubernetes_namespace_v1.runs))
}
