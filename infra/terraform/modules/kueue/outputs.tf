output "queue_names" {
  description = "GPU node group instance type -> the LocalQueue (and ClusterQueue) of its runs."
  value       = { for name, flavor in local.flavors : flavor.instance_type => "${var.queue_prefix}${name}" }
}
