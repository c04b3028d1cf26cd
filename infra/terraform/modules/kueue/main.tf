# Kueue: runs of a GPU environment that names a queue wait in a ClusterQueue with a quota, and are
# admitted whole (a Workload's pod sets together), instead of piling up as Pending pods that hold
# part of a distributed run's GPUs. See docs/environments.md, "Queueing with Kueue".
#
# * The controller manager manages only jobs that carry kueue.x-k8s.io/queue-name
#   (manageJobsWithoutQueueName = false), for batch/job and kubeflow.org/mpijob.
# * waitForPodsReady: an admitted workload whose pods are not all ready within the timeout is
#   evicted and requeued, and blocks other admissions meanwhile (all-or-nothing, Kueue's
#   "Sequential admission with ready pods").
# * Per GPU node group: a ResourceFlavor (its node labels and taint), a ClusterQueue
#   anubis-<instance type> whose quotas are variables (all in the cohort "anubis", so an idle pool's
#   quota can be borrowed), and a LocalQueue of the same name in each run namespace. An environment
#   names the queue of each run's instance type with queue = "anubis-{instance_type}".
#
# Each object is written as a literal with only its leaves computed, so that tests/infra/test_kueue.py
# can fill them in and check them against Kueue's own CRDs.

locals {
  # Node group instance type -> flavor and queue name ("p3.2xlarge" -> "p3-2xlarge"), with its quota.
  flavors = {
    for type, group in var.gpu_node_groups : replace(type, ".", "-") => {
      instance_type = type
      gpus          = try(var.gpu_quotas[type].gpus, group.max_size * group.gpus)
      cpu           = try(var.gpu_quotas[type].cpu, "100000")
      memory        = try(var.gpu_quotas[type].memory, "100000Ti")
    }
  }

  # (namespace, flavor) pairs: one LocalQueue each.
  local_queues = {
    for pair in setproduct(var.queue_namespaces, keys(local.flavors)) : "${pair[0]}/${pair[1]}" => {
      namespace = pair[0]
      flavor    = pair[1]
    }
  }
}

resource "helm_release" "kueue" {
  name             = "kueue"
  namespace        = "kueue-system"
  create_namespace = true
  repository       = "oci://registry.k8s.io/kueue/charts"
  chart            = "kueue"
  version          = var.chart_version

  # The chart's controller_manager_config.yaml replaced whole (charts/kueue/values.yaml at the pinned
  # version: its health, metrics, webhook, leader election and client settings kept as they are), with
  # waitForPodsReady on, jobs without a queue name left alone, and only the frameworks Anubis renders.
  values = [yamlencode({
    managerConfig = {
      controllerManagerConfigYaml = yamlencode({
        apiVersion     = "config.kueue.x-k8s.io/v1beta2"
        kind           = "Configuration"
        health         = { healthProbeBindAddress = ":8081" }
        metrics        = { bindAddress = ":8443" }
        webhook        = { port = 9443 }
        leaderElection = { leaderElect = true, resourceName = "c1f6bfd2.kueue.x-k8s.io" }
        controller = {
          groupKindConcurrency = {
            "Job.batch"                     = 5
            "Pod"                           = 5
            "Workload.kueue.x-k8s.io"       = 5
            "LocalQueue.kueue.x-k8s.io"     = 1
            "ClusterQueue.kueue.x-k8s.io"   = 1
            "ResourceFlavor.kueue.x-k8s.io" = 1
          }
        }
        clientConnection           = { qps = 50, burst = 100 }
        manageJobsWithoutQueueName = false
        waitForPodsReady = {
          timeout        = var.pods_ready_timeout
          blockAdmission = true
          requeuingStrategy = { timestamp = "Eviction", backoffBaseSeconds = 60, backoffMaxSeconds = 3600 }
        }
        integrations = { frameworks = ["batch/job", "kubeflow.org/mpijob"] }
      })
    }
  })]
}

resource "kubernetes_manifest" "resource_flavor" {
  for_each = local.flavors

  manifest = {
    apiVersion = "kueue.x-k8s.io/v1beta2"
    kind       = "ResourceFlavor"
    metadata   = { name = each.key }
    spec = {
      nodeLabels = {
        "node.kubernetes.io/instance-type" = each.value.instance_type
        "anubis.dev/node-pool"             = "gpu"
      }
      tolerations = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" }]
    }
  }

  depends_on = [helm_release.kueue]
}

resource "kubernetes_manifest" "cluster_queue" {
  for_each = local.flavors

  manifest = {
    apiVersion = "kueue.x-k8s.io/v1beta2"
    kind       = "ClusterQueue"
    metadata   = { name = "${var.queue_prefix}${each.key}" }
    spec = {
      cohortName        = var.queue_prefix_cohort
      namespaceSelector = {}
      queueingStrategy  = "BestEffortFIFO"
      resourceGroups = [{
        coveredResources = ["cpu", "memory", "nvidia.com/gpu"]
        flavors = [{
          name = each.key
          resources = [
            { name = "cpu", nominalQuota = each.value.cpu },
            { name = "memory", nominalQuota = each.value.memory },
            { name = "nvidia.com/gpu", nominalQuota = each.value.gpus },
          ]
        }]
      }]
    }
  }

  depends_on = [kubernetes_manifest.resource_flavor]
}

resource "kubernetes_manifest" "local_queue" {
  for_each = local.local_queues

  manifest = {
    apiVersion = "kueue.x-k8s.io/v1beta2"
    kind       = "LocalQueue"
    metadata   = { name = "${var.queue_prefix}${each.value.flavor}", namespace = each.value.namespace }
    spec       = { clusterQueue = "${var.queue_prefix}${each.value.flavor}" }
  }

  depends_on = [kubernetes_manifest.cluster_queue]
}
