"""``anubis controller``: watch runs on Kubernetes and record their results (see docs/controller.md)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import click

from anubis.settings import Settings
from schemas.errors import AnubisError, BackendError, ReporterError

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
@click.option("--elasticsearch", "elasticsearch_url", default=None, envvar="ANUBIS_ELASTICSEARCH_URL",
              help="Index every finished run's log lines into this Elasticsearch (URL with credentials).")
@click.option("--cloudwatch-region", default=None,
              help="Also put user metrics into CloudWatch (namespace Anubis) in this AWS region.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Runs reconciled at the same time.")
@click.option("--resync", "resync_seconds", type=click.IntRange(min=1), default=None,
              help="Seconds between full lists of every watched kind.")
@click.option("--github-repo", default=None, metavar="OWNER/NAME",
              help="Report commit statuses and the pull-request comment to this GitHub repository.")
@click.option("--github-token-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="File holding the GitHub token (default: the GITHUB_TOKEN variable).")
@click.option("--github-api-url", default="https://api.github.com", show_default=True,
              help="The GitHub API (GitHub Enterprise: https://HOST/api/v3).")
@click.option("--outbox", "outbox_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The durable queue of GitHub writes (default: github-outbox.sqlite3 under the data folder).")
@click.option("--github-flush", "flush_seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds between flushes of the GitHub outbox.")
@click.pass_obj
def controller(settings: Settings, namespaces: tuple[str, ...], kubeconfig: Path | None, context: str | None,
               in_cluster: bool, store_url: str | None, settings_file: Path | None, metrics_port: int | None,
               pushgateway: str | None, elasticsearch_url: str | None, cloudwatch_region: str | None,
               workers: int | None, resync_seconds: int | None, github_repo: str | None,
               github_token_file: Path | None, github_api_url: str, outbox_path: Path | None,
               flush_seconds: float) -> None:
    """Watch runs on Kubernetes, bring each to a final status and record its result once."""
    from controller.kubernetes.client import KubeClient
    from controller.kubernetes.reconciler import Controller
    from controller.kubernetes.sinks import MetricsSink, NullMetrics

    logging.getLogger().setLevel(logging.DEBUG if settings.debug else logging.INFO)
    controller_settings = _controller_settings(settings, settings_file, namespaces, workers, resync_seconds)
    metrics: MetricsSink = NullMetrics()
    server: Any = None
    if metrics_port is not None:
        from controller.exporting.prometheus import ControllerMetrics

        prometheus = ControllerMetrics()
        server = prometheus.serve(metrics_port)
        metrics = prometheus
    file_settings = _file_sections(settings_file)
    exporters = _exporters(
        pushgateway or file_settings.get("pushgateway"),
        elasticsearch_url or file_settings.get("elasticsearch"),
        cloudwatch_region or file_settings.get("cloudwatch"),
    )
    store = _store(settings, store_url or file_settings.get("store"), file_settings.get("store_region"),
                   file_settings.get("store_endpoint_url"))
    flusher = None
    if github_repo:
        from controller.reporting.exporter import Flusher

        github = _github_exporter(settings, store, github_repo, _github_token(github_token_file), github_api_url,
                                  outbox_path)
        exporters.append(github)
        flusher = Flusher(github.flush, flush_seconds)
    client = KubeClient.from_config(kubeconfig=str(kubeconfig) if kubeconfig else None, context=context,
                                    in_cluster=in_cluster, errors=metrics)
    ctl = Controller(client, store, settings=controller_settings, exporters=exporters, metrics=metrics)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    ctl.start()
    if flusher is not None:
        flusher.start()
    watched = list(controller_settings.namespaces)
    if controller_settings.namespace_selector:
        watched.append(f"namespaces labelled {controller_settings.namespace_selector}")
    click.echo(f"anubis controller: watching {', '.join(watched) or 'all namespaces'}"
               + (f"; reporting to GitHub {github_repo}" if github_repo else ""), err=True)
    stop.wait()
    ctl.stop()
    if flusher is not None:
        flusher.stop()  # what GitHub does not take now stays in the outbox for the next start
    if server is not None:
        server.stop()


def _file_sections(settings_file: Path | None) -> dict[str, str]:
    """The store and exporter URLs of the settings file ([store] url, [exporters.*]); flags win."""
    if settings_file is None:
        return {}
    import tomllib

    try:
        data = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BackendError(f"cannot read the controller settings {settings_file} ({e}); fix the file") from e
    exporters = data.get("exporters") or {}
    found = {
        "store": (data.get("store") or {}).get("url"),
        "store_region": (data.get("store") or {}).get("region"),
        "store_endpoint_url": (data.get("store") or {}).get("endpoint_url"),
        "pushgateway": (exporters.get("pushgateway") or {}).get("url"),
        "elasticsearch": (exporters.get("elasticsearch") or {}).get("url"),
    }
    cloudwatch = exporters.get("cloudwatch") or {}
    if cloudwatch.get("enabled"):
        found["cloudwatch"] = cloudwatch.get("region") or "us-east-1"
    return {key: str(value) for key, value in found.items() if value}


def _exporters(pushgateway: str | None, elasticsearch_url: str | None, cloudwatch_region: str | None) -> list[Any]:
    """The exporters asked for; each client library is imported only when its exporter is used."""
    exporters: list[Any] = []
    if pushgateway:
        from controller.exporting.prometheus import PushgatewayExporter

        exporters.append(PushgatewayExporter(pushgateway))
    if elasticsearch_url:
        from elasticsearch import Elasticsearch

        from controller.exporting.elasticsearch import ElasticsearchExporter

        exporters.append(ElasticsearchExporter(Elasticsearch(elasticsearch_url)))
    if cloudwatch_region:
        import boto3

        from controller.exporting.cloudwatch import CloudWatchExporter

        exporters.append(CloudWatchExporter(boto3.client("cloudwatch", region_name=cloudwatch_region)))
    return exporters


def _github_token(token_file: Path | None) -> str:
    """The token from ``--github-token-file``, else ``GITHUB_TOKEN``; never echoed anywhere."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ReporterError(f"cannot read the GitHub token file {token_file} ({e.strerror}); check the path "
                                "and its permissions") from e
        if not token:
            raise ReporterError(f"the GitHub token file {token_file} is empty; put the token in it")
        return token
    token = os.environ.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise ReporterError("--github-repo needs a token: give --github-token-file or set GITHUB_TOKEN (commit "
                            "statuses: write, pull requests: write)")
    return token


def _github_exporter(settings: Settings, store: Any, repo: str, token: str, api_url: str,
                     outbox_path: Path | None) -> Any:
    from anubis.project import load_project
    from controller.reporting.exporter import GitHubExporter
    from controller.reporting.github import GitHubClient
    from controller.reporting.outbox import Outbox
    from controller.reporting.reporter import Reporter

    # the bot's login, when the token cannot say (an App's installation token): the comment's author check
    client = GitHubClient(repo, token, base_url=api_url, login=os.environ.get("ANUBIS_GITHUB_LOGIN") or None)
    reporter = Reporter(client, Outbox(outbox_path or settings.data_dir / "github-outbox.sqlite3"))
    return GitHubExporter(reporter, store, links=_environment_links(settings),
                          main_branch=load_project(settings.repo_root).default_branch)


def _environment_links(settings: Settings) -> dict[str, Any]:
    """Each kubernetes environment's links (Argo CD, Grafana, logs), for the statuses and the comment."""
    from renderer.environments import environment_names, load_environment

    links: dict[str, Any] = {}
    for name in environment_names(settings.repo_root):
        try:
            env = load_environment(settings.repo_root, name)
        except AnubisError:
            continue
        if env.kind == "kubernetes":
            links[name] = env.links
    return links


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
    from renderer.argocd import PREVIEW_NAMESPACE_PREFIX, PREVIEW_NAMESPACE_SELECTOR

    values: dict[str, Any] = {"namespaces": tuple(found), "policies": policies}
    if found:  # pull-request previews run in namespaces of their own, created as they come
        values.update(namespace_selector=PREVIEW_NAMESPACE_SELECTOR, namespace_pattern=f"{PREVIEW_NAMESPACE_PREFIX}*")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ControllerSettings(**values)


def _store(settings: Settings, url: str | None, region: str | None, endpoint_url: str | None) -> Any:
    """The store results go to: ``--store`` or the settings' ``[store]`` (its ``region`` and
    ``endpoint_url`` apply to S3), else this machine's SQLite store."""
    from controller.store_location import StoreLocation, open_location, parse_location

    location = (parse_location(url, region=region, endpoint_url=endpoint_url) if url
                else StoreLocation("sqlite", path=settings.store_path))
    return open_location(location, create=True)
