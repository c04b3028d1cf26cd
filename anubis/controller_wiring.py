"""Building the cluster controller from its settings: ``build_controller`` is the one place that wires
the watcher, the result store, the exporters, GitHub reporting and the metrics server from the flags
and the settings file (read once and checked against its schema). ``anubis controller`` only parses
its flags, calls it and waits for a signal."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anubis.settings import Settings
from schemas.errors import AnubisError, ReporterError

if TYPE_CHECKING:
    from controller.kubernetes.reconciler import Controller
    from controller.kubernetes.settings import ControllerSettings
    from controller.reporting.exporter import Flusher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControllerConfig:
    """What ``anubis controller``'s flags say; None: the settings file's value, else the default."""

    namespaces: tuple[str, ...] = ()
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    store_url: str | None = None
    settings_file: Path | None = None
    metrics_port: int | None = None
    pushgateway: str | None = None
    elasticsearch_url: str | None = None
    cloudwatch_region: str | None = None
    workers: int | None = None
    resync_seconds: int | None = None
    github_repo: str | None = None
    github_token_file: Path | None = None
    github_api_url: str = "https://api.github.com"
    outbox_path: Path | None = None
    flush_seconds: float = 5.0


@dataclass
class BuiltController:
    controller: Controller
    settings: ControllerSettings
    flusher: Flusher | None
    metrics_server: Any

    def start(self) -> None:
        self.controller.start()
        if self.flusher is not None:
            self.flusher.start()

    def stop(self) -> None:
        self.controller.stop()
        if self.flusher is not None:
            self.flusher.stop()  # what GitHub does not take now stays in the outbox for the next start
        if self.metrics_server is not None:
            self.metrics_server.stop()


def build_controller(settings: Settings, config: ControllerConfig) -> BuiltController:
    """The controller the flags and the settings file describe, not started."""
    from controller.kubernetes.client import KubeClient
    from controller.kubernetes.reconciler import Controller
    from controller.kubernetes.settings import read_settings_file
    from controller.kubernetes.sinks import MetricsSink, NullMetrics

    raw = read_settings_file(config.settings_file) if config.settings_file is not None else None
    controller_settings = _controller_settings(settings, config.settings_file, raw, config.namespaces,
                                               config.workers, config.resync_seconds)
    metrics: MetricsSink = NullMetrics()
    server: Any = None
    if config.metrics_port is not None:
        from controller.exporting.prometheus import ControllerMetrics

        prometheus = ControllerMetrics()
        server = prometheus.serve(config.metrics_port)
        metrics = prometheus
    file_settings = _file_sections(raw)
    exporters = _exporters(
        config.pushgateway or file_settings.get("pushgateway"),
        config.elasticsearch_url or file_settings.get("elasticsearch"),
        config.cloudwatch_region or file_settings.get("cloudwatch"),
    )
    store = _store(settings, config.store_url or file_settings.get("store"), file_settings.get("store_region"),
                   file_settings.get("store_endpoint_url"))
    flusher = None
    if config.github_repo:
        from controller.reporting.exporter import Flusher

        github = _github_exporter(settings, store, config.github_repo, _github_token(config.github_token_file),
                                  config.github_api_url, config.outbox_path)
        exporters.append(github)
        flusher = Flusher(github.flush, config.flush_seconds)
    client = KubeClient.from_config(kubeconfig=str(config.kubeconfig) if config.kubeconfig else None,
                                    context=config.context, in_cluster=config.in_cluster, errors=metrics)
    ctl = Controller(client, store, settings=controller_settings, exporters=exporters, metrics=metrics)
    return BuiltController(ctl, controller_settings, flusher, server)


def _file_sections(data: dict[str, Any] | None) -> dict[str, str]:
    """The store and exporter URLs of the settings file ([store] url, [exporters.*]); flags win."""
    if data is None:
        return {}
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


def _controller_settings(settings: Settings, settings_file: Path | None, raw: dict[str, Any] | None,
                         namespaces: tuple[str, ...], workers: int | None, resync_seconds: int | None) -> Any:
    from controller.kubernetes.settings import ControllerSettings, load_settings
    from controller.kubernetes.statuses import StatusPolicy

    overrides: dict[str, Any] = {"workers": workers, "resync_seconds": resync_seconds,
                                 "namespaces": namespaces or None}
    if settings_file is not None:
        return load_settings(settings_file, raw, **overrides)
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
