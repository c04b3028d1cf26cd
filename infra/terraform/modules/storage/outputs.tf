output "dataset_bucket_arn" {
  description = "ARN of the dataset bucket."
  value       = aws_s3_bucket.data["datasets"].arn
}

output "dataset_bucket_name" {
  description = "Name of the dataset bucket."
  value       = aws_s3_bucket.data["datasets"].id
}

output "results_bucket_arn" {
  description = "ARN of the results bucket."
  value       = aws_s3_bucket.data["results"].arn
}

output "results_bucket_name" {
  description = "Name of the results bucket."
  value       = aws_s3_bucket.data["results"].id
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the buckets and the dataset cache."
  value       = aws_kms_key.storage.arn
}

output "dataset_cache_file_system_id" {
  description = "ID of the EFS file system behind the dataset cache PVC."
  value       = aws_efs_file_system.dataset_cache.id
}
