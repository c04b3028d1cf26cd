# S3: the dataset bucket (sources and the fetcher's cache) and the results bucket, both encrypted with
# a customer-managed KMS key, versioned, with lifecycle rules, public access blocked, TLS-only, and
# their server access logs in a third bucket. EFS: the ReadWriteMany volume behind the runs' dataset
# cache PVC (`anubis-dataset-cache`), shared by every node.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  log_bucket = "${var.results_bucket_name}-access-logs"

  data_buckets = {
    datasets = var.dataset_bucket_name
    results  = var.results_bucket_name
  }
}

# ---------------------------------------------------------------- KMS

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" is the key itself; this is AWS's default key policy (the account administers its key through IAM).
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" is the key itself.
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is the key itself; without the account statement the key becomes unmanageable.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid       = "S3ServerAccessLogging"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "storage" {
  description             = "${var.name}: datasets, results, access logs and the dataset cache"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "storage" {
  name          = "alias/${var.name}-storage"
  target_key_id = aws_kms_key.storage.key_id
}

# ---------------------------------------------------------------- datasets and results

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_144:Single-region by design: results can be re-run and datasets re-fetched from their origin.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; the controller writes and reads records directly.
  for_each = local.data_buckets

  bucket        = each.value
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { "anubis.dev/purpose" = each.key })
}

resource "aws_s3_bucket_ownership_controls" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced" # no ACLs
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  for_each = aws_s3_bucket.data

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.storage.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "data" {
  for_each = aws_s3_bucket.data

  bucket        = each.value.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${each.key}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id

  # The fetcher's cache expires (it is re-fetched when needed); result records are the baseline
  # history and are kept: only old versions and abandoned uploads go.
  dynamic "rule" {
    for_each = each.key == "datasets" ? [var.dataset_cache_prefix] : []
    content {
      id     = "expire-cache"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      expiration {
        days = var.dataset_cache_expiration_days
      }
    }
  }

  rule {
    id     = "tidy"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    dynamic "transition" {
      for_each = each.key == "datasets" ? ["INTELLIGENT_TIERING"] : [] # large, rarely read objects
      content {
        days          = 0
        storage_class = transition.value
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.data]
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.data

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  for_each = aws_s3_bucket.data

  bucket = each.value.id
  policy = data.aws_iam_policy_document.tls_only[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.data]
}

# ---------------------------------------------------------------- access logs

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access log bucket; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs are kept in one region.
  #checkov:skip=CKV2_AWS_62:Nothing consumes access log events.
  bucket        = local.log_bucket
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { "anubis.dev/purpose" = "access-logs" })
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.storage.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

# ---------------------------------------------------------------- EFS: the dataset cache volume

resource "aws_security_group" "efs" {
  name        = "${var.name}-dataset-cache"
  description = "NFS from the cluster's nodes to the dataset cache file system"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "efs_from_nodes" {
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from the cluster's nodes"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = var.node_security_group_id
}

resource "aws_efs_file_system" "dataset_cache" {
  #checkov:skip=CKV2_AWS_18:A cache: every object is re-fetched from its source (and verified by checksum) when missing.
  creation_token   = "${var.name}-dataset-cache"
  encrypted        = true
  kms_key_id       = aws_kms_key.storage.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  tags = merge(var.tags, { Name = "${var.name}-dataset-cache" })
}

resource "aws_efs_mount_target" "dataset_cache" {
  count = length(var.subnet_ids)

  file_system_id  = aws_efs_file_system.dataset_cache.id
  subnet_id       = var.subnet_ids[count.index]
  security_groups = [aws_security_group.efs.id]
}
