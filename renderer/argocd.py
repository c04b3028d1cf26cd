"""What Argo CD needs to sync Anubis' generated manifests (``manifests/argocd/``), as plain values.

* one ``AppProject`` per project named by the environments: only the repository, only the
  environments' destinations (and the previews' ``anubis-pr-*``), no cluster-scoped kind but the
  previews' Namespaces, and only the namespaced kinds runs use and the previews' support objects
  (``renderer.previews``: a ServiceAccount and a RoleBinding per preview namespace);
* one ``Application`` per kubernetes environment syncing ``manifests/<env>/`` (recursively);
* one ``ApplicationSet`` per kubernetes environment for pull-request previews: a pull-request generator
  (GitHub, filtered by a label) crossed with a git directory generator (only pull requests whose preview
  has a folder for the environment get an Application; a finalizer deletes the runs with it), whose
  Applications sync ``manifests-preview/pr-<n>/<env>/`` from the
  bot-owned preview branch — never from the pull request's own head, whose author could commit anything —
  into a namespace of the pull request and environment, ``anubis-pr-<n>-<env>``, which Argo CD creates (``CreateNamespace=true``)
  with ``managedNamespaceMetadata``: the ``anubis.dev/preview`` label the controller watches namespaces by,
  and the Pod Security labels of that environment's policy (``baseline`` unless it allows more);
  the AppProject allows the destinations ``anubis-pr-*``;
* ``argocd-cm-patch.yaml``: health checks (Lua) for the custom kinds runs use (MPIJob).

:mod:`renderer.manifests` lays these out with the templates under ``templates/argocd/``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from schemas.environment import Environment
from schemas.errors import RenderError

ARGOCD_NAMESPACE = "argocd"
PREVIEW_BRANCH = "anubis-previews"  # the branch the preview workflow's bot writes manifests-preview/ to
PREVIEW_LABEL = "anubis-preview"  # a maintainer adds it to a pull request to have it run
PREVIEW_REQUEUE_SECONDS = 300
PREVIEW_NAMESPACE_PREFIX = "anubis-pr-"  # a pull request's runs go to anubis-pr-<n>-<env> (``anubis preview``)
#: On preview Applications: deleting one (its folder removed) deletes what it synced, runs included.
PREVIEW_FINALIZER = "resources-finalizer.argocd.argoproj.io"
PREVIEW_NAMESPACE_LABEL = "anubis.dev/preview"  # on every preview namespace: the controller watches them by it
PREVIEW_NAMESPACE_SELECTOR = f"{PREVIEW_NAMESPACE_LABEL}=true"
POD_SECURITY_VERSION = "v1.29"

# The kinds a run's manifest file may hold; the AppProject allows nothing else.
RUN_KINDS: tuple[tuple[str, str], ...] = (
    ("", "ConfigMap"),
    ("", "Service"),
    ("batch", "CronJob"),
    ("batch", "Job"),
    ("kubeflow.org", "MPIJob"),
)
# What ``anubis preview`` adds in each anubis-pr-<n>-<env> namespace (renderer.previews). Argo CD's whitelist is
# per project, not per destination: main's renders never emit these (tests/unit/renderer).
PREVIEW_SUPPORT_KINDS: tuple[tuple[str, str], ...] = (
    ("", "ServiceAccount"),
    ("kueue.x-k8s.io", "LocalQueue"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
)

# Why each: docs/manifests.md ("Argo CD").
SYNC_OPTIONS: tuple[str, ...] = (
    "ApplyOutOfSyncOnly=true",
    "CreateNamespace=false",
    "PrunePropagationPolicy=background",
    "ServerSideApply=true",
)

# argocd-cm key → the template holding its Lua script (static text; a template so that it is packaged).
HEALTH_CHECKS: dict[str, str] = {"resource.customizations.health.kubeflow.org_MPIJob": "argocd/health-mpijob.lua.j2"}

_GITHUB = re.compile(
    r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([^/]+)/([^/]+?)(?:\.git)?/?$"
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

Document = tuple[str, tuple[str, dict[str, Any]]]  # filename, (template, context)


def documents(
    envs: Sequence[Environment], repo_url: str, revision: str, preview_revision: str, preview_label: str
) -> list[Document]:
    clusters = sorted((e for e in envs if e.kind == "kubernetes"), key=lambda e: e.name)
    if not clusters:
        raise RenderError("no kubernetes environment to hand to Argo CD: add one under environments/")
    match = _GITHUB.match(repo_url)
    if match is None:
        raise RenderError(
            f"the repository URL '{repo_url}' is not a GitHub repository (https://github.com/<owner>/<repo>): "
            "the preview ApplicationSet's pull-request generator needs one"
        )
    owner, repo = match.groups()
    for env in clusters:
        if not _DNS_LABEL.match(env.name) or len(env.name) > 40:
            raise RenderError(
                f"environment name '{env.name}' cannot name Argo CD Applications: use up to 40 lower-case "
                "letters, digits and '-'"
            )
    docs: list[Document] = []
    for project in sorted({e.argocd_project for e in clusters}):
        members = [e for e in clusters if e.argocd_project == project]
        context = {"project": _project(project, members, repo_url)}
        docs.append((f"appproject-{project}.yaml", ("argocd/appproject.yaml.j2", context)))
    for env in clusters:
        app = _application(env, repo_url)
        context = {"app": {**app, "revision": revision}}
        docs.append((f"application-{env.name}.yaml", ("argocd/application.yaml.j2", context)))
        preview = {
            **app,
            "name": f"anubis-previews-{env.name}",
            "app_name": f"anubis-{env.name}-pr-{{{{.number}}}}",
            "path": f"manifests-preview/pr-{{{{.number}}}}/{env.name}",
            "revision": preview_revision,
            "owner": owner,
            "repo": repo,
            "label": preview_label,
            "requeue": PREVIEW_REQUEUE_SECONDS,
            "finalizer": PREVIEW_FINALIZER,
            "destination_namespace": f"{PREVIEW_NAMESPACE_PREFIX}{{{{.number}}}}-{env.name}",
            "sync_options": sorted(_preview_sync_options() + list(_queue_sync_options(env))),
            "namespace_metadata": _preview_namespace_metadata(env),
        }
        docs.append((f"applicationset-previews-{env.name}.yaml", ("argocd/applicationset.yaml.j2", {"app": preview})))
    patch = {"namespace": ARGOCD_NAMESPACE, "checks": HEALTH_CHECKS}
    docs.append(("argocd-cm-patch.yaml", ("argocd/argocd-cm.yaml.j2", patch)))
    return docs


def _labels(env: str | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/managed-by": "anubis", "app.kubernetes.io/part-of": "anubis"}
    if env:
        labels["anubis.dev/environment"] = env
    return labels


def _pod_security_level(env: Environment) -> str:
    """The Pod Security level an environment's runs meet: ``baseline`` unless its policy lets a run ask
    for what baseline forbids (privileged containers, the host's network or paths)."""
    p = env.policy
    return "privileged" if (p.allow_privileged or p.allow_host_network or p.allow_host_path) else "baseline"


def _preview_sync_options() -> list[str]:
    return sorted([o for o in SYNC_OPTIONS if not o.startswith("CreateNamespace=")] + ["CreateNamespace=true"])


def _preview_namespace_metadata(env: Environment) -> dict[str, Any]:
    """What Argo CD writes on the preview namespace of ``env`` it creates: the label the controller
    watches namespaces by, and the Pod Security admission labels (enforced at the level ``env``'s policy
    needs; warnings and audit always at ``baseline``, so a privileged preview is visible)."""
    return {
        "labels": {
            **_labels(env.name),
            PREVIEW_NAMESPACE_LABEL: "true",
            "anubis.dev/pull-request": "{{.number}}",
            "pod-security.kubernetes.io/audit": "baseline",
            "pod-security.kubernetes.io/enforce": _pod_security_level(env),
            "pod-security.kubernetes.io/enforce-version": POD_SECURITY_VERSION,
            "pod-security.kubernetes.io/warn": "baseline",
        }
    }


def _project(name: str, members: Sequence[Environment], repo_url: str) -> dict[str, Any]:
    destinations = {(e.destination.server, e.destination.namespace) for e in members}
    destinations |= {(e.destination.server, f"{PREVIEW_NAMESPACE_PREFIX}*") for e in members}
    return {
        "name": name,
        "namespace": ARGOCD_NAMESPACE,
        "labels": _labels(),
        "description": f"Anubis benchmark runs ({', '.join(e.name for e in members)})",
        "repo_url": repo_url,
        "destinations": [{"namespace": ns, "server": server} for server, ns in sorted(destinations)],
        "kinds": [{"group": group, "kind": kind} for group, kind in sorted(RUN_KINDS + PREVIEW_SUPPORT_KINDS)],
        # CreateNamespace of the previews: only namespaces named like a preview's (`name`: Argo CD ≥ v3.3; an
        # older AppProject CRD prunes it and whitelists every Namespace — infra/ pins v3.3.2)
        "cluster_kinds": [{"group": "", "kind": "Namespace", "name": f"{PREVIEW_NAMESPACE_PREFIX}*"}],
    }


def _application(env: Environment, repo_url: str) -> dict[str, Any]:
    return {
        "name": f"anubis-{env.name}",
        "namespace": ARGOCD_NAMESPACE,
        "labels": _labels(env.name),
        "project": env.argocd_project,
        "repo_url": repo_url,
        "path": f"manifests/{env.name}",
        "server": env.destination.server,
        "destination_namespace": env.destination.namespace,
        "sync_options": sorted(SYNC_OPTIONS + _queue_sync_options(env)),
        "ignore_differences": _ignore_differences(env),
    }


# Kueue owns these fields of the objects it admits (it suspends them at creation and resumes them on
# admission); the manifests never set them. Argo CD ignores them in the diff, and RespectIgnoreDifferences
# keeps a sync from writing them back (docs/gpu-fleet.md).
KUEUE_OWNED_FIELDS: tuple[dict[str, Any], ...] = (
    {"group": "batch", "kind": "Job", "jsonPointers": ["/spec/suspend"]},
    {"group": "kubeflow.org", "kind": "MPIJob", "jsonPointers": ["/spec/runPolicy/suspend"]},
)


def _ignore_differences(env: Environment) -> list[dict[str, Any]]:
    return [dict(d) for d in KUEUE_OWNED_FIELDS] if env.queue else []


def _queue_sync_options(env: Environment) -> tuple[str, ...]:
    return ("RespectIgnoreDifferences=true",) if env.queue else ()
