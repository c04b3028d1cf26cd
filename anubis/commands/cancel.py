"""``anubis cancel EXECUTION_OR_RUN_ID``: stop a run on this machine or on a cluster."""

from __future__ import annotations

import os
from pathlib import Path

import click

from anubis.settings import Settings
from controller.journal import open_journal
from controller.local.registry import Registry, journal_orphans
from schemas.errors import AnubisError, BackendError, NotFoundError


@click.command()
@click.argument("ref", metavar="EXECUTION_OR_RUN_ID")
@click.option("--wait", "wait_seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to wait for a local run to stop and record CANCELED.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Cluster runs: the kubeconfig to use (default: $KUBECONFIG or ~/.kube/config).")
@click.option("--context", default=None, help="Cluster runs: the kubeconfig context.")
@click.option("--in-cluster", is_flag=True, help="Cluster runs: use the pod's service account.")
@click.option("--namespace", "namespaces", multiple=True,
              help="Cluster runs: where to look (repeatable; default: the namespaces of the kubernetes environments).")
@click.pass_obj
def cancel(settings: Settings, ref: str, wait_seconds: float, kubeconfig: Path | None, context: str | None,
           in_cluster: bool, namespaces: tuple[str, ...]) -> None:
    """Cancel the run EXECUTION_OR_RUN_ID (an execution id, a run id, or the start of one).

    A run on this machine: its `anubis run` stops the benchmark's processes and records CANCELED.
    Otherwise the run is looked up on the cluster by its run id and suspended (never deleted: Argo CD
    would create it again); the controller records it as CANCELED and keeps its result.
    """
    journal = open_journal(settings.data_dir)  # a run whose `anubis run` was killed is recorded there as ERROR
    try:
        registry = Registry(settings.data_dir, on_orphan=journal_orphans(journal))
        try:
            runs = registry.resolve(ref)
        except NotFoundError as local_error:
            if not (kubeconfig or in_cluster or _kubeconfig_present()):
                raise
            _cancel_on_cluster(settings, ref, local_error, kubeconfig, context, in_cluster, namespaces)
            return
        for active in runs:
            registry.cancel(active)
        stuck = [r.execution_id for r in runs if not registry.wait_finished(r.execution_id, wait_seconds)]
    finally:
        if journal is not None:
            journal.close()
    if stuck:
        raise BackendError(
            f"asked {', '.join(stuck)} to stop, but it is still running after {wait_seconds:g} s; "
            "run `anubis cancel` again, or stop its `anubis run` process"
        )
    for active in runs:
        click.echo(f"canceled {active.execution_id}")


def _kubeconfig_present() -> bool:
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return any(Path(p).is_file() for p in path.split(os.pathsep) if p)


def _cancel_on_cluster(settings: Settings, ref: str, local_error: NotFoundError, kubeconfig: Path | None,
                       context: str | None, in_cluster: bool, namespaces: tuple[str, ...]) -> None:
    from controller.kubernetes.cancel import cancel_on_cluster
    from controller.kubernetes.client import KubeClient

    where = namespaces or _environment_namespaces(settings) or ("default",)
    try:
        client = KubeClient.from_config(kubeconfig=str(kubeconfig) if kubeconfig else None, context=context,
                                        in_cluster=in_cluster)
        canceled = cancel_on_cluster(client, ref, where)
    except NotFoundError as e:
        raise NotFoundError(f"{local_error} On the cluster: {e}") from e
    except AnubisError as e:
        raise BackendError(f"{local_error} The cluster could not be asked: {e}") from e
    for item in canceled:
        what = f"execution {item.execution_id}" if item.execution_id else "no further runs"
        click.echo(f"canceled {item.kind} {item.namespace}/{item.name} ({what}); the controller records it as CANCELED")


def _environment_namespaces(settings: Settings) -> tuple[str, ...]:
    from renderer.environments import environment_names, load_environment

    found: list[str] = []
    for name in environment_names(settings.repo_root):
        try:
            env = load_environment(settings.repo_root, name)
        except AnubisError:
            continue
        if env.kind == "kubernetes" and env.destination.namespace not in found:
            found.append(env.destination.namespace)
    return tuple(found)
