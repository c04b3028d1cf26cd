output "controller_role_arn" {
  description = "ARN of the controller's role (annotate its service account with it)."
  value       = aws_iam_role.controller.arn
}

output "fetcher_role_arn" {
  description = "ARN of the data fetcher's role (annotate the runs' service accounts with it)."
  value       = aws_iam_role.fetcher.arn
}
