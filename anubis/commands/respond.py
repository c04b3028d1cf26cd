"""``anubis respond --event FILE``: answer an ``/anubis`` command in a pull-request comment, or the
controller's request for a confirmation run (a ``repository_dispatch`` of type ``anubis-confirm``).

Reads the ``issue_comment`` event GitHub gives the workflow, asks the API for the commenter's
permission (never trusting the event's ``author_association``), decides
(:func:`controller.reporting.commands.decide`) and acts: replies, and for previews re-renders or
removes runs on the preview branch (``anubis preview``), and for ``accept`` records a baseline reset in
the result store ``--store`` names (as ``anubis baseline reset`` does) and sets the pull request's
``anubis/<benchmark>`` statuses to success. A confirmation request is the rerun of one benchmark that
``/anubis rerun <benchmark>`` makes (a preview rendered again, or a bot commit on the default branch
with an ``Anubis-Confirmation`` trailer), once per request key. The event's text is data: it is parsed, never interpolated
into a shell.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from anubis.settings import Settings
from controller.reporting import commands
from controller.reporting.confirming import EVENT_TYPE
from renderer.argocd import PREVIEW_LABEL
from schemas.errors import NotFoundError, ReporterError

#: The trailer of a confirmation's bump commit: a repeated dispatch finds it and does nothing.
CONFIRMATION_TRAILER = "Anubis-Confirmation"


@click.command()
@click.option("--event", "event_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              envvar="GITHUB_EVENT_PATH", help="The issue_comment or repository_dispatch event (JSON).")
@click.option("--repo", "repository", required=True, envvar="GITHUB_REPOSITORY", help="owner/name.")
@click.option("--api-url", default="https://api.github.com", show_default=True, envvar="GITHUB_API_URL")
@click.option("--token-env", default="GITHUB_TOKEN", show_default=True, metavar="VAR")
@click.option("--head", default=None, help="The pull request's head, fetched (for a preview rerun).")
@click.option("--store", default=None, envvar="ANUBIS_STORE", metavar="STORE",
              help="Where `accept` records its baseline reset: an environment's name or a store URL (or ANUBIS_STORE; "
                   "default: this machine's store).")
@click.option("--dry-run", is_flag=True, help="Print the decision; write nothing.")
@click.pass_context
def respond(ctx: click.Context, event_path: Path, repository: str, api_url: str, token_env: str, head: str | None,
            store: str | None, dry_run: bool) -> None:
    """Answer an /anubis command in a pull-request comment (rerun, cancel, accept)."""
    from controller.reporting.github import GitHubClient

    event = json.loads(event_path.read_text(encoding="utf-8"))
    if "client_payload" in event:  # a repository_dispatch: the controller asks for a confirmation run
        _confirm(ctx.obj, event, repository, api_url, token_env, head, dry_run)
        return
    issue = event.get("issue") or {}
    if event.get("action") != "created" or "pull_request" not in issue:
        click.echo("not a new comment on a pull request: nothing to do")
        return
    command = commands.parse(str((event.get("comment") or {}).get("body") or ""))
    if command is None:
        click.echo("no /anubis command in the comment")
        return
    token = os.environ.get(token_env, "")
    if not token:
        raise ReporterError(f"no GitHub token: set {token_env}")
    client = GitHubClient(repository, token, base_url=api_url)
    number = int(issue["number"])
    user = str((event.get("comment") or {}).get("user", {}).get("login", ""))
    pull = client.pull(number)
    labels = {str(label.get("name")) for label in pull.get("labels", [])}
    actions = commands.decide(
        command, user=user, permission=client.permission(user), number=number, state=str(pull.get("state", "open")),
        merged=bool(pull.get("merged")), previewed=PREVIEW_LABEL in labels,
    )
    settings: Settings = ctx.obj
    from anubis.previewing import update_preview

    for action in actions:
        click.echo(f"{type(action).__name__}: {action}")
        if dry_run:
            continue
        if isinstance(action, commands.Reply):
            client.reply(number, action.text)
        elif isinstance(action, (commands.RerunPreview, commands.CancelPreview)):
            which = action.benchmark or "all"
            update_preview(settings, number, head, str(pull.get("head", {}).get("sha") or "") or None,
                           str(pull.get("head", {}).get("ref") or "") or None, close=False,
                           rerun=which if isinstance(action, commands.RerunPreview) else None,
                           cancel=which if isinstance(action, commands.CancelPreview) else None, remote="origin",
                           branch=_preview_branch(), token_env=token_env, push=True)
        elif isinstance(action, commands.AcceptStep):
            sha = str(pull.get("head", {}).get("sha") or "")
            for benchmark in _accept(settings, store, action):
                if sha:
                    client.create_status(sha, "success", f"anubis/{benchmark}",
                                         f"accepted by @{commands.safe_name(action.user)}: {action.reason}", None)
                click.echo(f"accepted the step of {benchmark}: baseline reset by @{action.user}")
        elif isinstance(action, commands.RerunMain):
            bumped = _bump_reruns(settings.repo_root, action.benchmark)
            _commit_bump(settings.repo_root, action.benchmark, user)
            click.echo(f"re-running {action.benchmark or 'every benchmark'} on the default branch: {bumped} "
                       "descriptor(s) bumped and committed; `anubis publish` renders and pushes them")


def _confirm(settings: Settings, event: dict[str, object], repository: str, api_url: str, token_env: str,
             head: str | None, dry_run: bool) -> None:
    """A confirmation run the controller asked for: the rerun ``/anubis rerun <benchmark>`` makes, done at
    most once per request key (GitHub may deliver a dispatch twice when its answer was lost)."""
    from controller.reporting.github import GitHubClient

    if event.get("action") != EVENT_TYPE:
        click.echo(f"a repository_dispatch of type {commands.safe_name(str(event.get('action')))!r}: nothing to do")
        return
    request = commands.parse_dispatch(event.get("client_payload"))
    if isinstance(request, commands.Invalid):
        raise ReporterError(f"The confirmation request cannot be acted on: {request.message}.")
    token = os.environ.get(token_env, "")
    if not token:
        raise ReporterError(f"no GitHub token: set {token_env}")
    client = GitHubClient(repository, token, base_url=api_url)
    state, merged, previewed, pull = None, False, False, {}
    if request.pull_request is not None:
        pull = client.pull(request.pull_request)
        state, merged = str(pull.get("state", "open")), bool(pull.get("merged"))
        previewed = PREVIEW_LABEL in {str(label.get("name")) for label in pull.get("labels", [])}
    from anubis.previewing import update_preview

    repeated = False  # a dispatch delivered again: no second rerun, no second reply
    for action in commands.decide_confirmation(request, state=state, merged=merged, previewed=previewed):
        click.echo(f"{type(action).__name__}: {action}")
        if dry_run or repeated:
            continue
        if isinstance(action, commands.Reply) and request.pull_request is not None:
            client.reply(request.pull_request, action.text)
        elif isinstance(action, commands.RerunPreview):
            head_sha = str(pull.get("head", {}).get("sha") or "") or None
            head_ref = str(pull.get("head", {}).get("ref") or "") or None
            repeated = not update_preview(settings, action.number, head, head_sha, head_ref, close=False,
                                          rerun=request.benchmark, cancel=None, remote="origin",
                                          branch=_preview_branch(), token_env=token_env, push=True,
                                          confirmation=request.key)
        elif isinstance(action, commands.RerunMain):
            if _confirmed_already(settings.repo_root, request.key):
                click.echo(f"{request.key}: already re-run (a repeated dispatch); nothing to do")
                continue
            bumped = _bump_reruns(settings.repo_root, request.benchmark)
            _commit_bump(settings.repo_root, request.benchmark, None, confirmation=request)
            click.echo(f"confirming {request.benchmark} on the default branch: {bumped} descriptor(s) bumped and "
                       "committed; `anubis publish` renders and pushes them")


def _confirmed_already(repo_root: Path, key: str) -> bool:
    """Whether a bot commit of the checked-out history carries this confirmation's key."""
    import git

    from anubis.gitbot import git_env, run_git

    repo = git.Repo(repo_root, search_parent_directories=True)
    found = run_git(repo, "log", "--format=%H", "--fixed-strings", f"--grep={CONFIRMATION_TRAILER}: {key}",
                    env=git_env(None))
    return bool(found.strip())


def _accept(settings: Settings, store: str | None, action: commands.AcceptStep) -> list[str]:
    """Record a baseline reset for the accepted benchmark(s); their names. Without a name, every
    benchmark with an execution of this pull request in the store."""
    import time

    from anubis.stores import locate, opened_store, reset_store
    from controller.store import BaselineReset

    where = locate(settings, store)
    with opened_store(settings, store) as opened:
        if action.benchmark is not None:
            if opened.latest(action.benchmark) is None:
                raise NotFoundError(f"No executions of benchmark {action.benchmark!r} are stored in {where}; "
                                    "nothing to accept. Check the name and --store.")
            names = [action.benchmark]
        else:
            names = sorted({r.benchmark for r in opened.list_runs(limit=500) if r.pull_request == action.number})
            if not names:
                raise NotFoundError(f"No executions of pull request #{action.number} are stored in {where}; "
                                    "name the benchmark: /anubis accept <benchmark> <reason>.")
        resets = reset_store(opened, str(where))
        for name in names:
            resets.add_reset(BaselineReset(benchmark=name, at=time.time(), by=f"@{commands.safe_name(action.user)}",
                                           reason=action.reason, metric=None, environment=None))
    return names


def _commit_bump(repo_root: Path, benchmark: str | None, user: str | None,
                 confirmation: commands.Confirm | None = None) -> None:
    import git

    from anubis.gitbot import git_env, run_git

    repo = git.Repo(repo_root, search_parent_directories=True)
    env = git_env(None)
    run_git(repo, "add", "--", "benchmarks", env=env)
    if confirmation is not None:
        message = (f"Re-run {benchmark} to confirm the change suspected in {confirmation.execution} "
                   f"(confirmation run {confirmation.confirmation} of {confirmation.of})\n\n"
                   f"{CONFIRMATION_TRAILER}: {confirmation.key}")
    else:
        message = f"Re-run {benchmark or 'every benchmark'} (/anubis rerun by @{commands.safe_name(user or '')})"
    run_git(repo, "commit", "--quiet", "--message", message, "--", "benchmarks", env=env)


def _preview_branch() -> str:
    from renderer.argocd import PREVIEW_BRANCH

    return PREVIEW_BRANCH


def _bump_reruns(repo_root: Path, benchmark: str | None) -> int:
    """Add one to ``info.rerun`` in the descriptor(s), editing the text (comments and layout kept)."""
    import re

    from renderer.planning import find_descriptors

    bumped = 0
    for descriptor in find_descriptors([repo_root / "benchmarks" / benchmark] if benchmark else [], repo_root):
        text = descriptor.read_text(encoding="utf-8")
        info = re.search(r"(?m)^\[info\][ \t]*$", text)
        if info is None:
            continue
        section_end = re.search(r"(?m)^\[", text[info.end():])
        end = info.end() + (section_end.start() if section_end else len(text) - info.end())
        body = text[info.end():end]
        found = re.search(r"(?m)^rerun[ \t]*=[ \t]*(\d+)", body)
        if found:
            body = body[: found.start()] + f"rerun = {int(found.group(1)) + 1}" + body[found.end():]
        else:
            body = "\nrerun = 1" + body
        descriptor.write_text(text[: info.end()] + body + text[end:], encoding="utf-8")
        bumped += 1
    return bumped
