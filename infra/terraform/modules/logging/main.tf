# Logs: an OpenSearch domain inside the VPC (HTTPS only, encrypted, IAM-signed requests) and
# fluent-bit on every node (GPU nodes included) shipping container logs into daily indices
# `anubis-logs-YYYY.MM.DD`, with the pod's labels (anubis.dev/run-id, anubis.dev/benchmark, ...).

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  domain_name     = "${var.name}-logs"
  domain_arn      = "arn:aws:es:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:domain/${local.domain_name}"
  oidc_issuer     = replace(var.oidc_provider_arn, "/^arn:[^:]+:iam::[0-9]+:oidc-provider\\//", "")
  shipper_account = "logging:fluent-bit"
}

resource "aws_security_group" "opensearch" {
  name        = "${local.domain_name}-opensearch"
  description = "HTTPS from the cluster's nodes to the OpenSearch domain"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_from_nodes" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "HTTPS from the cluster's nodes"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.node_security_group_id
}

resource "aws_cloudwatch_log_group" "opensearch" {
  #checkov:skip=CKV_AWS_158:The domain's own application logs hold no run data; CloudWatch's default encryption applies.
  #checkov:skip=CKV_AWS_338:A month of the domain's own logs is enough to debug it.
  name              = "/aws/opensearch/${local.domain_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "opensearch_logs" {
  statement {
    actions   = ["logs:PutLogEvents", "logs:CreateLogStream"]
    resources = ["${aws_cloudwatch_log_group.opensearch.arn}:*"]
    principals {
      type        = "Service"
      identifiers = ["es.amazonaws.com"]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "opensearch" {
  policy_name     = "${local.domain_name}-opensearch"
  policy_document = data.aws_iam_policy_document.opensearch_logs.json
}

data "aws_iam_policy_document" "domain_access" {
  statement {
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"]
    resources = ["${local.domain_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = concat([aws_iam_role.fluent_bit.arn], var.writer_role_arns)
    }
  }
}

resource "aws_opensearch_domain" "logs" {
  #checkov:skip=CKV2_AWS_52:Access is IAM-only (SigV4) for two roles, inside the VPC; fine-grained access control would need an internal master user.
  #checkov:skip=CKV_AWS_317:Audit logs need fine-grained access control (see above); the domain's access policy names every caller.
  #checkov:skip=CKV2_AWS_59:Dedicated master nodes triple the idle cost of a log store that can be rebuilt; add them with instance_count >= 3.
  #checkov:skip=CKV_AWS_318:One data node keeps the idle installation cheap; set instance_count = 3 for zone awareness.
  domain_name    = local.domain_name
  engine_version = var.engine_version

  cluster_config {
    instance_type          = var.instance_type
    instance_count         = var.instance_count
    zone_awareness_enabled = var.instance_count > 1
    dynamic "zone_awareness_config" {
      for_each = var.instance_count > 1 ? [1] : []
      content {
        availability_zone_count = min(var.instance_count, length(var.subnet_ids), 3)
      }
    }
  }

  ebs_options {
    ebs_enabled = true
    volume_type = "gp3"
    volume_size = var.volume_size_gb
  }

  vpc_options {
    subnet_ids         = slice(var.subnet_ids, 0, var.instance_count > 1 ? min(var.instance_count, length(var.subnet_ids), 3) : 1)
    security_group_ids = [aws_security_group.opensearch.id]
  }

  encrypt_at_rest {
    enabled    = true
    kms_key_id = var.kms_key_arn
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-2019-07"
  }

  log_publishing_options {
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch.arn
    log_type                 = "ES_APPLICATION_LOGS"
  }

  log_publishing_options {
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch.arn
    log_type                 = "INDEX_SLOW_LOGS"
  }

  access_policies = data.aws_iam_policy_document.domain_access.json

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_resource_policy.opensearch]
}

# ---------------------------------------------------------------- fluent-bit

data "aws_iam_policy_document" "fluent_bit_trust" {
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
      values   = ["system:serviceaccount:${local.shipper_account}"]
    }
  }
}

resource "aws_iam_role" "fluent_bit" {
  name               = "${var.name}-fluent-bit"
  description        = "fluent-bit log shipper (IRSA ${local.shipper_account})"
  assume_role_policy = data.aws_iam_policy_document.fluent_bit_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "fluent_bit" {
  statement {
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"]
    resources = ["${local.domain_arn}/*"]
  }
}

resource "aws_iam_role_policy" "fluent_bit" {
  name   = "ship-logs"
  role   = aws_iam_role.fluent_bit.id
  policy = data.aws_iam_policy_document.fluent_bit.json
}

resource "helm_release" "fluent_bit" {
  name             = "fluent-bit"
  namespace        = "logging"
  create_namespace = true
  repository       = "https://fluent.github.io/helm-charts"
  chart            = "fluent-bit"
  version          = var.fluent_bit_chart_version

  values = [yamlencode({
    serviceAccount = {
      create      = true
      name        = "fluent-bit"
      annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.fluent_bit.arn }
    }
    tolerations = [{ operator = "Exists" }] # every node, GPU nodes included
    config = {
      inputs  = <<-EOT
        [INPUT]
            Name              tail
            Tag               kube.*
            Path              /var/log/containers/*.log
            multiline.parser  docker, cri
            Mem_Buf_Limit     50MB
            Skip_Long_Lines   On
      EOT
      filters = <<-EOT
        [FILTER]
            Name                kubernetes
            Match               kube.*
            Merge_Log           On
            Keep_Log            Off
            Labels              On
            Annotations         Off
      EOT
      outputs = <<-EOT
        [OUTPUT]
            Name                opensearch
            Match               kube.*
            Host                ${aws_opensearch_domain.logs.endpoint}
            Port                443
            tls                 On
            AWS_Auth            On
            AWS_Region          ${data.aws_region.current.name}
            Logstash_Format     On
            Logstash_Prefix     anubis-logs
            Replace_Dots        On
            Suppress_Type_Name  On
            Trace_Error         On
            Retry_Limit         5
      EOT
    }
  })]
}
