"""What `anubis status`, `logs` and `list` share to read cluster runs: the options, the client, the
namespaces, the result store and the view of a cluster run.

The ``kubernetes`` client is imported only when a command reaches the cluster.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from anubis.settings import Settings
from schemas.errors import AnubisError

if TYPE_CHECKING:
    from controller.kubernetes.client import KubeClient
    from controller.kubernetes.following import ClusterRun
    from controller.local.journaling import RunView
    from controller.store import ResultStore
    from schemas.status import RunStatus

F = TypeVar("F", bound=Callable[..., Any])


class ClusterAccess(NamedTuple):
    """``--cluster`` and its companions, as given (a named tuple: see :class:`~anubis.settings.Settings`)."""

    cluster: bool
    kubeconfig: Path | None
    context: str | None
    in_cluster: bool
    namespaces: tuple[str, ...]
    store_url: str | None

    @property
    def asked(self) -> bool:
        """The cluster was asked for explicitly."""
        return self.cluster or self.kubeconfig is not None or self.context is not None or self.in_cluster

    @property
    def available(self) -> bool:
        """Worth trying when no local run matches: asked for, or a kubeconfig exists."""
        return self.asked or kubeconfig_present()

    def client(self) -> KubeClient:
        from controller.kubernetes.client import KubeClient

        return KubeClient.from_config(kubeconfig=str(self.kubeconfig) if self.kubeconfig else None,
                                      context=self.context, in_cluster=self.in_cluster)

    def where(self, settings: Settings) -> tuple[str, ...]:
        return self.namespaces or environment_namespaces(settings) or ("default",)

    def store(self, settings: Settings) -> ResultStore | None:
        """The result store the controller writes (``--store``: a location or an environment's name),
        else this machine's if it exists."""
        from anubis.stores import locate
        from controller.store_location import open_location

        location = locate(settings, self.store_url)
        if location.kind == "sqlite" and location.path is not None and not location.path.exists():
            return None
        return open_location(location)


def cluster_options(command: F) -> F:
    """``--cluster``, ``--kubeconfig``, ``--context``, ``--in-cluster``, ``--namespace``, ``--store``,
    collected into one ``access`` argument."""
    options = [
        click.option("--cluster", "cluster", is_flag=True, help="Read the run from the cluster (the kubeconfig's, or --in-cluster)."),
        click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Cluster runs: the kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)."),
        click.option("--context", default=None, help="Cluster runs: the kubeconfig context."),
        click.option("--in-cluster", is_flag=True, help="Cluster runs: use the pod's service account."),
        click.option("--namespace", "namespaces", multiple=True,
                     help="Cluster runs: where to look (repeatable; default: the kubernetes environments' namespaces)."),
        click.option("--store", "store_url", default=None, envvar="ANUBIS_STORE",
                     help="Cluster runs: the controller's result store, sqlite:PATH, s3://bucket/prefix or an "
                          "environment's name (its [result_store])."),
    ]

    def gather(*args: Any, **kwargs: Any) -> Any:
        kwargs["access"] = ClusterAccess(
            cluster=kwargs.pop("cluster"), kubeconfig=kwargs.pop("kubeconfig"), context=kwargs.pop("context"),
            in_cluster=kwargs.pop("in_cluster"), namespaces=tuple(kwargs.pop("namespaces")),
            store_url=kwargs.pop("store_url"))
        return command(*args, **kwargs)

    wrapped: Any = functools.wraps(command)(gather)  # keeps the options declared below this one
    for option in reversed(options):
        wrapped = option(wrapped)
    result: F = wrapped
    return result


def kubeconfig_present() -> bool:
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return any(Path(p).is_file() for p in path.split(os.pathsep) if p)


def environment_namespaces(settings: Settings) -> tuple[str, ...]:
    from renderer.environments import environment_names, load_environment

    found: list[str] = []
    try:
        names = environment_names(settings.repo_root)
    except (AnubisError, OSError):
        return ()
    for name in names:
        try:
            env = load_environment(settings.repo_root, name)
        except AnubisError:
            continue
        if env.kind == "kubernetes" and env.destination.namespace not in found:
            found.append(env.destination.namespace)
    return tuple(found)


def cluster_view(run: ClusterRun, status: RunStatus, reason: str) -> RunView:
    """A cluster run as `anubis list` and `anubis status` show it."""
    from controller.local.journaling import RunView

    state = run.state
    finished = state.completed if status.is_final else None
    if status.is_final and finished is None:
        finished = max((c.since for c in state.conditions if c.since is not None), default=None)
    return RunView(
        execution_id=state.execution_id,
        run_id=state.run_id,
        benchmark=run.benchmark,
        environment=state.environment,
        backend="kubernetes",
        status=status,
        reason=reason,
        started_at=state.started or state.created,
        finished_at=finished,
        commit=run.commit,
        active=not status.is_final,
        journaled=False,
    )
