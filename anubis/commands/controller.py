"""``anubis controller``: watch runs on Kubernetes and record their results (see docs/controller.md)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

from anubis.controller_wiring import ControllerConfig, build_controller
from anubis.settings import Settings


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
    logging.getLogger().setLevel(logging.DEBUG if settings.debug else logging.INFO)
    built = build_controller(settings, ControllerConfig(
        namespaces=namespaces, kubeconfig=kubeconfig, context=context, in_cluster=in_cluster, store_url=store_url,
        settings_file=settings_file, metrics_port=metrics_port, pushgateway=pushgateway,
        elasticsearch_url=elasticsearch_url, cloudwatch_region=cloudwatch_region, workers=workers,
        resync_seconds=resync_seconds, github_repo=github_repo, github_token_file=github_token_file,
        github_api_url=github_api_url, outbox_path=outbox_path, flush_seconds=flush_seconds,
    ))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    built.start()
    watched = list(built.settings.namespaces)
    if built.settings.namespace_selector:
        watched.append(f"namespaces labelled {built.settings.namespace_selector}")
    click.echo(f"anubis controller: watching {', '.join(watched) or 'all namespaces'}"
               + (f"; reporting to GitHub {github_repo}" if github_repo else ""), err=True)
    stop.wait()
    built.stop()
