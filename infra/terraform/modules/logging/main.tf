# Logs: Elasticsearch 9 inside the cluster, run by Elastic's operator (ECK), and fluent-bit on every
# node (GPU nodes included) shipping container logs into daily indices `anubis-logs-YYYY.MM.DD`, with
# the pod's labels (anubis.dev/run-id, anubis.dev/benchmark, ...).
#
# Why Elasticsearch and not an Amazon OpenSearch domain: the controller's log exporter and `anubis logs`
# use the official `elasticsearch` client, which refuses any server that does not answer
# `X-Elastic-Product: Elasticsearch`, and whose major must match the server's (a 9.x client sends
# `compatible-with=9`, which an 8.x server refuses). pyproject.toml pins the client to the major
# deployed here (tests/integration/test_elasticsearch_export.py checks they agree).
#
# Access: two users of Elasticsearch's file realm, each with a role limited to `anubis-logs-*`:
# `anubis-controller` (index and read the run logs, manage their template) and `fluent-bit` (index).
# Their passwords are generated here and kept in Kubernetes Secrets (and in the Terraform state, which
# must be encrypted: see versions.tf). HTTP inside the cluster is plain: the service is reachable only
# as a ClusterIP inside the VPC; node-to-node transport stays TLS (ECK's default).

locals {
  namespace     = "logging"
  cluster       = "elasticsearch" # the Elasticsearch resource; ECK names its service <cluster>-es-http
  service_host  = "${local.cluster}-es-http.${local.namespace}.svc"
  service_url   = "http://${local.service_host}:9200"
  services_node = { "anubis.dev/node-pool" = "services" }

  roles = {
    anubis_logs_writer = {
      cluster = ["monitor", "manage_index_templates"]
      indices = [{
        names      = ["anubis-logs-*"]
        privileges = ["create_index", "index", "read", "view_index_metadata"]
      }]
    }
    anubis_logs_shipper = {
      cluster = ["monitor"]
      indices = [{
        names      = ["anubis-logs-*"]
        privileges = ["create_index", "create_doc"]
      }]
    }
  }
  users = {
    controller = { username = "anubis-controller", roles = "anubis_logs_writer" }
    fluent_bit = { username = "fluent-bit", roles = "anubis_logs_shipper" }
  }
}

resource "kubernetes_namespace_v1" "logging" {
  metadata {
    name = local.namespace
    labels = {
      "app.kubernetes.io/part-of" = "anubis"
      # fluent-bit reads the nodes' /var/log (a hostPath volume, which "baseline" forbids)
      "pod-security.kubernetes.io/enforce" = "privileged"
      "pod-security.kubernetes.io/warn"    = "baseline"
    }
  }
}

resource "helm_release" "eck_operator" {
  name             = "elastic-operator"
  namespace        = "elastic-system"
  create_namespace = true
  repository       = "https://helm.elastic.co"
  chart            = "eck-operator"
  version          = var.eck_operator_chart_version

  values = [yamlencode({
    nodeSelector      = local.services_node
    managedNamespaces = [local.namespace]
  })]
}

# ---------------------------------------------------------------- users and roles (file realm)

resource "random_password" "users" {
  for_each = local.users

  length  = 32
  special = false
}

resource "kubernetes_secret_v1" "users" {
  for_each = local.users

  metadata {
    name      = "anubis-es-user-${replace(each.key, "_", "-")}"
    namespace = kubernetes_namespace_v1.logging.metadata[0].name
  }
  type = "kubernetes.io/basic-auth"
  data = {
    username = each.value.username
    password = random_password.users[each.key].result
    roles    = each.value.roles
  }
}

resource "kubernetes_secret_v1" "roles" {
  metadata {
    name      = "anubis-es-roles"
    namespace = kubernetes_namespace_v1.logging.metadata[0].name
  }
  data = {
    "roles.yml" = yamlencode(local.roles)
  }
}

# The controller's URL, with its credentials, in the controller's namespace: its Deployment reads it
# into ANUBIS_ELASTICSEARCH_URL (manifests/system/controller/deployment.yaml).
resource "kubernetes_secret_v1" "controller_url" {
  metadata {
    name      = "anubis-elasticsearch"
    namespace = var.controller_namespace
  }
  data = {
    url = "http://${local.users.controller.username}:${random_password.users["controller"].result}@${local.service_host}:9200"
  }
}

# ---------------------------------------------------------------- Elasticsearch

resource "helm_release" "elasticsearch" {
  name       = "elasticsearch"
  namespace  = kubernetes_namespace_v1.logging.metadata[0].name
  repository = "https://helm.elastic.co"
  chart      = "eck-elasticsearch"
  version    = var.eck_elasticsearch_chart_version

  values = [yamlencode({
    fullnameOverride = local.cluster
    version          = var.elasticsearch_version
    http             = { tls = { selfSignedCertificate = { disabled = true } } }
    auth = {
      fileRealm = [for name, _ in local.users : { secretName = kubernetes_secret_v1.users[name].metadata[0].name }]
      roles     = [{ secretName = kubernetes_secret_v1.roles.metadata[0].name }]
    }
    nodeSets = [{
      name   = "default"
      count  = var.node_count
      config = { "node.store.allow_mmap" = false }
      podTemplate = {
        spec = {
          nodeSelector = local.services_node
          containers = [{
            name      = "elasticsearch"
            resources = { requests = { memory = var.memory, cpu = "500m" }, limits = { memory = var.memory } }
          }]
        }
      }
      volumeClaimTemplates = [{
        metadata = { name = "elasticsearch-data" } # the name ECK mounts as the data directory
        spec = {
          accessModes      = ["ReadWriteOnce"]
          storageClassName = "gp3"
          resources        = { requests = { storage = "${var.volume_size_gb}Gi" } }
        }
      }]
    }]
  })]

  depends_on = [helm_release.eck_operator]
}

# ---------------------------------------------------------------- fluent-bit

resource "helm_release" "fluent_bit" {
  name       = "fluent-bit"
  namespace  = kubernetes_namespace_v1.logging.metadata[0].name
  repository = "https://fluent.github.io/helm-charts"
  chart      = "fluent-bit"
  version    = var.fluent_bit_chart_version

  values = [yamlencode({
    tolerations = [{ operator = "Exists" }] # every node, GPU nodes included
    env = [{
      name      = "ES_PASSWORD"
      valueFrom = { secretKeyRef = { name = kubernetes_secret_v1.users["fluent_bit"].metadata[0].name, key = "password" } }
    }]
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
            Name                es
            Match               kube.*
            Host                ${local.service_host}
            Port                9200
            HTTP_User           ${local.users.fluent_bit.username}
            HTTP_Passwd         $${ES_PASSWORD}
            Logstash_Format     On
            Logstash_Prefix     anubis-logs
            Replace_Dots        On
            Suppress_Type_Name  On
            Trace_Error         On
            Retry_Limit         5
      EOT
    }
  })]

  depends_on = [helm_release.elasticsearch]
}
