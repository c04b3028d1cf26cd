"""``anubis report --store PATH --repo owner/name --commit SHA``: statuses and the comment, one shot.

Reads the finished (and running) executions of a commit from the result store, judges each metric
against the default branch's history (``controller.baselines.judge_record``), queues a commit status per run and
the pull request's comment in the outbox, and flushes it. Used by a workflow step or by hand; the
controller uses :class:`controller.reporting.reporter.Reporter` directly.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from anubis.settings import Settings
from controller.baselines import record_policies
from controller.reporting.exporter import judged_report
from controller.reporting.runreport import RunReport
from controller.store import ResultStore
from schemas.environment import Links
from schemas.errors import ReporterError
from schemas.results import ResultRecord
from schemas.runspec import RegressionPolicy


def build_reports(store: ResultStore, commit: str, *, repo_root: Path | None = None,
                  baseline_branch: str = "main", limit: int = 1000) -> list[RunReport]:
    """The newest execution of each run of ``commit``, with verdicts, links and history."""
    latest: dict[str, ResultRecord] = {}
    for record in store.list_runs(limit=limit):  # newest first
        if record.commit == commit and record.run_id not in latest:
            latest[record.run_id] = record
    return [_report(store, r, repo_root, baseline_branch) for r in latest.values()]


def _report(store: ResultStore, record: ResultRecord, repo_root: Path | None, branch: str) -> RunReport:
    """Verdicts as ``anubis results`` gives them (``judge_record``: the default branch up to the merge
    base, baseline resets), the baseline's values for the chart, the environment's links."""
    return judged_report(store, record, _policies(record, repo_root), links=_links(record, repo_root),
                         main_branch=branch)


def _policies(record: ResultRecord, repo_root: Path | None) -> dict[str, RegressionPolicy]:
    """Each metric's regression policy: the record's own; for an older record, from the descriptor in this
    checkout when it renders the same run."""
    carried = record_policies(record)
    if carried is not None:
        return carried
    if repo_root is None or not record.descriptor_path:
        return {}
    try:
        from renderer.planning import check_descriptor

        planned = check_descriptor(repo_root / record.descriptor_path, repo_root=repo_root,
                                   environment=record.environment)
    except Exception:  # the descriptor changed or went away: the defaults
        return {}
    for spec in planned.runs:
        if spec.run_id == record.run_id:
            return {m.name: m.policy for m in spec.all_metrics()}
    return {}


def _links(record: ResultRecord, repo_root: Path | None) -> Links:
    if repo_root is None:
        return Links()
    try:
        from renderer.environments import load_environment

        return load_environment(repo_root, record.environment).links
    except Exception:
        return Links()


@click.command()
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The SQLite result store (default: the one under the data folder).")
@click.option("--repo", "repository", required=True, help="The GitHub repository, owner/name.")
@click.option("--commit", required=True, help="The source commit whose runs to report.")
@click.option("--pr", "pulls", type=int, multiple=True,
              help="Pull request(s) to comment on (default: those that brought the commit).")
@click.option("--outbox", "outbox_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The outbox file (default: github-outbox.sqlite3 under the data folder).")
@click.option("--api-url", default="https://api.github.com", show_default=True, envvar="GITHUB_API_URL")
@click.option("--token-env", default="GITHUB_TOKEN", show_default=True, metavar="VAR",
              help="Environment variable holding the token.")
@click.option("--flush/--queue-only", default=True, show_default=True)
@click.pass_obj
def report(settings: Settings, store_path: Path | None, repository: str, commit: str, pulls: tuple[int, ...],
           outbox_path: Path | None, api_url: str, token_env: str, flush: bool) -> None:
    """Post commit statuses and the pull-request comment for the runs of COMMIT in the result store."""
    from controller.reporting.github import GitHubClient
    from controller.reporting.outbox import Outbox
    from controller.reporting.reporter import Reporter
    from controller.sqlite_store import SqliteResultStore

    token = os.environ.get(token_env, "")
    if not token:
        raise ReporterError(f"no GitHub token: set {token_env} (a token with commit statuses and pull requests: write)")
    store = SqliteResultStore(store_path or settings.store_path)
    from anubis.project import load_project

    reports = build_reports(store, commit, repo_root=settings.repo_root,
                            baseline_branch=load_project(settings.repo_root).default_branch)
    if not reports:
        click.echo(f"no runs of {commit[:12]} in the result store: nothing to report")
        return
    # the bot's login, when the token cannot say (an App's installation token): the comment's author check
    client = GitHubClient(repository, token, base_url=api_url, login=os.environ.get("ANUBIS_GITHUB_LOGIN") or None)
    reporter = Reporter(client, Outbox(outbox_path or settings.data_dir / "github-outbox.sqlite3"))
    reporter.update(commit, reports, pull_requests=list(pulls) or None)
    if not flush:
        click.echo(f"queued {len(reports)} run(s) of {commit[:12]}")
        return
    result = reporter.flush(force=True)
    click.echo(f"reported {len(reports)} run(s) of {commit[:12]}: {result.sent} write(s), {result.skipped} unchanged, "
               f"{result.remaining} left for a later try")
    if result.remaining:
        raise SystemExit(75)  # EX_TEMPFAIL: GitHub did not take everything; the outbox keeps it
