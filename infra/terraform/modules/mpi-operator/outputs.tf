output "version" {
  description = "Installed MPI operator release."
  value       = var.operator_version
}
