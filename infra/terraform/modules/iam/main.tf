# Roles for service accounts (IRSA), each with only what its pods do:
#
# * controller: result records under the results prefix (read, write; no delete: records are never
#   rewritten), metrics into one CloudWatch namespace, run logs go to the in-cluster Elasticsearch (its own users, no IAM);
# * data fetcher (the runs' fetch Jobs, `<run>-fetch`, under the `anubis-fetcher` service account):
#   read the dataset bucket, write its cache prefix. The runs' own service account has no role.

locals {
  oidc_issuer = replace(var.oidc_provider_arn, "/^arn:[^:]+:iam::[0-9]+:oidc-provider\\//", "")
  kms_via_s3  = "s3.${data.aws_region.current.name}.amazonaws.com"
}

data "aws_region" "current" {}

data "aws_iam_policy_document" "trust" {
  for_each = {
    controller = [var.controller_service_account]
    fetcher    = var.fetcher_service_accounts
  }

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = [for sa in each.value : "system:serviceaccount:${sa}"]
    }
  }
}

# ---------------------------------------------------------------- controller

data "aws_iam_policy_document" "controller" {
  statement {
    sid       = "ListResults"
    actions   = ["s3:ListBucket"]
    resources = [var.results_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.results_prefix, "${var.results_prefix}*"]
    }
  }
  statement {
    sid       = "ReadWriteResults"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.results_bucket_arn}/${var.results_prefix}*"]
  }
  statement {
    sid       = "EncryptResults"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.kms_via_s3]
    }
  }
  statement {
    sid       = "PublishMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource type; the namespace condition scopes it
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.cloudwatch_namespace]
    }
  }
}

resource "aws_iam_role" "controller" {
  name                 = "${var.name}-controller"
  description          = "Anubis controller (IRSA ${var.controller_service_account})"
  assume_role_policy   = data.aws_iam_policy_document.trust["controller"].json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "controller" {
  name   = "least-privilege"
  role   = aws_iam_role.controller.id
  policy = data.aws_iam_policy_document.controller.json
}

# ---------------------------------------------------------------- data fetcher

data "aws_iam_policy_document" "fetcher" {
  statement {
    sid       = "ListDatasets"
    actions   = ["s3:ListBucket"]
    resources = [var.dataset_bucket_arn]
  }
  statement {
    sid       = "ReadDatasets"
    actions   = ["s3:GetObject"]
    resources = ["${var.dataset_bucket_arn}/*"]
  }
  statement {
    sid       = "WriteCache"
    actions   = ["s3:PutObject"]
    resources = ["${var.dataset_bucket_arn}/${var.dataset_cache_prefix}*"]
  }
  statement {
    sid       = "DecryptDatasets"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.kms_via_s3]
    }
  }
}

resource "aws_iam_role" "fetcher" {
  name                 = "${var.name}-data-fetcher"
  description          = "Anubis data fetcher (IRSA ${join(", ", var.fetcher_service_accounts)})"
  assume_role_policy   = data.aws_iam_policy_document.trust["fetcher"].json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "fetcher" {
  name   = "least-privilege"
  role   = aws_iam_role.fetcher.id
  policy = data.aws_iam_policy_document.fetcher.json
}
