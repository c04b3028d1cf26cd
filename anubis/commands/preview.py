"""``anubis preview --pr N``: a pull request's runs on the preview branch (the work is in
:mod:`anubis.previewing`)."""

from __future__ import annotations

import click

from anubis.previewing import update_preview
from anubis.settings import Settings
from renderer.argocd import PREVIEW_BRANCH


@click.command()
@click.option("--pr", "number", type=click.IntRange(min=1), required=True, help="The pull request's number.")
@click.option("--head", default=None, help="A local ref or commit holding the pull request's head (fetched as data).")
@click.option("--head-sha", default=None, help="The head commit to record as the runs' source (default: --head's).")
@click.option("--head-ref", default=None, metavar="BRANCH",
              help="The pull request's head branch name, recorded as the runs' branch (default: pr-<n>).")
@click.option("--close", is_flag=True, help="Tear the preview down (label removed, pull request closed).")
@click.option("--rerun", "rerun", default=None, metavar="BENCHMARK|all", help="Bump the rerun counter and render again.")
@click.option("--cancel", "cancel", default=None, metavar="BENCHMARK|all", help="Remove these runs from the preview.")
@click.option("--remote", default="origin", show_default=True)
@click.option("--branch", default=PREVIEW_BRANCH, show_default=True, help="The preview branch Argo CD syncs.")
@click.option("--token-env", default=None, metavar="VAR", help="Environment variable holding the token to push with.")
@click.option("--push/--no-push", default=True, show_default=True)
@click.pass_obj
def preview(settings: Settings, number: int, head: str | None, head_sha: str | None, head_ref: str | None, close: bool,
            rerun: str | None, cancel: str | None, remote: str, branch: str, token_env: str | None, push: bool) -> None:
    """Render pull request N's runs to the preview branch (or tear them down with --close)."""
    update_preview(settings, number, head, head_sha, head_ref, close, rerun, cancel, remote, branch, token_env, push)
