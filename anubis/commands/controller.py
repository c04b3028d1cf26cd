"""``anubis controller``: watch runs on Kubernetes and record their results (see docs/controller.md)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click

from anubis.settings import Settings
from schemas.errors import AnubisError, BackendError

log = logging.getLogger(__name__)


@click.command()
@click.option("--namespace", "namespaces", multiple=True,
              help="Namespace to watch (repeatable; default: the settings file's, else the kubernetes environments').")
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The kubeconfig to use (default: $KUBECONFIG or ~/.kube/config).")
@click.option("--context", default=None, help="The kubeconfig context.")
@click.option("--in-cluster", is_flag=True, help="Use the pod's service account (when deployed).")
@click.option("--store", "store_url", default=None,
              help="Where results go: sqlite:PATH or s3://bucket/prefix (default: the local SQLite store).")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Controller settings (TOML): namespaces and each environment's policy.")
@click.option("--metrics-port", type=int, default=None, help="Serve the controller's /metrics on this port.")
@click.option("--pushgateway", default=None, help="Push run metrics and statuses to this Pushgateway URL.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Runs reconciled at the same time.")
@click.option("--resync", "resync_seconds", type=click.IntRange(min=1), default=None,
              help="Seconds between full lists of every watched kind.")
@click.pass_obj
def controller(settings: Settings, namespaces: tuple[str, ...], kubeconfig: Path | None, context: str | None,
               in_cluster: bool, store_url: str | None, settings_file: Path | None, metrics_port: int | None,
               pushgateway: str | None, workers: int | None, resync_seconds: int | None) -> None:
    """Watch runs on Kubernetes, bring each to a final status and record its result once."""
    from controller.kubernetes.client import KubeClient
    from controller.kubernetes.reconciler import Controller, MetricsSink, NullMetrics

    logging.getLogger().setLevel(logging.DEBUG if settings.debug else logging.INFO)
    controller_settings = _controller_settings(settings, settings_file, namespaces, workers, resync_seconds)
    metrics: MetricsSink = NullMetrics()
    server: Any = None
    if metrics_port is not None:
        from controller.exporting.prometheus import ControllerMetrics

        prometheus = ControllerMetrics()
        server = prometheus.serve(metrics_port)
        metrics = prometheus
    exporters: list[Any] = []
    if pushgateway:
        from controller.exporting.prometheus import PushgatewayExporter

        exporters.append(PushgatewayExporter(pushgateway))
    client = KubeClient.from_config(kubeconfig=str(kubeconfig) if kubeconfig else None, context=context,
                                    in_cluster=in_cluster, errors=metrics)
    ctl = Controller(client, _store(settings, store_url), settings=controller_settings, exporters=exporters,
                     metrics=metrics)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    ctl.start()
    click.echo(f"anubis controller: watching {', '.join(controller_settings.namespaces) or 'all namespaces'}",
               err=True)
    stop.wait()
    ctl.stop()
    if server is not None:
        server.stop()


def _controller_settings(settings: Settings, settings_file: Path | None, namespaces: tuple[str, ...],
                         workers: int | None, resync_seconds: int | None) -> Any:
    from controller.kubernetes.settings import ControllerSettings, load_settings
    from controller.kubernetes.statuses import StatusPolicy

    overrides: dict[str, Any] = {"workers": workers, "resync_seconds": resync_seconds,
                                 "namespaces": namespaces or None}
    if settings_file is not None:
        return load_settings(settings_file, **overrides)
    from renderer.environments import environment_names, load_environment

    policies: dict[str, StatusPolicy] = {}
    found: list[str] = []
    for name in environment_names(settings.repo_root):
        try:
            env = load_environment(settings.repo_root, name)
        except AnubisError as e:
            log.warning("environment %s is skipped: %s", name, e)
            continue
        if env.kind != "kubernetes":
            continue
        policies[name] = StatusPolicy(env.policy.unschedulable_deadline_seconds)
        if env.destination.namespace not in found:
            found.append(env.destination.namespace)
    values: dict[str, Any] = {"namespaces": tuple(found), "policies": policies}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ControllerSettings(**values)


def _store(settings: Settings, url: str | None) -> Any:
    if url is None or url.startswith("sqlite:"):
        from controller.sqlite_store import SqliteResultStore

        path = Path(url[len("sqlite:"):]) if url else settings.store_path
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteResultStore(path)
    if url.startswith("s3://"):
        import boto3

        from controller.s3_store import S3ResultStore

        bucket, _, prefix = url[len("s3://"):].partition("/")
        return S3ResultStore(boto3.client("s3"), bucket, prefix or "results/")
    raise BackendError(f"--store {url!r} is neither sqlite:PATH nor s3://bucket/prefix; give one of those")
