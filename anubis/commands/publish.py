"""``anubis publish``: render ``manifests/``, commit them as the bot and push (the push-to-main workflow).

Nothing to commit (the manifests are current) is a no-op. The commit message carries ``[skip ci]``
and the workflow ignores pushes that change only ``manifests/`` and pushes by the bot, so publishing
never triggers itself. A push that loses a race (another merge landed meanwhile) fetches, moves onto
the new remote head, renders again and retries: the runs always match the newest descriptors.
"""

from __future__ import annotations

import click

from anubis.gitbot import SKIP_CI, git_env, run_git
from anubis.project import GitSources
from anubis.rendering import render_repository, write_repository
from anubis.settings import Settings
from schemas.errors import BackendError


@click.command()
@click.option("--remote", default="origin", show_default=True)
@click.option("--branch", default=None, help="The branch to push to (default: the project's default branch).")
@click.option("--token-env", default=None, metavar="VAR",
              help="Environment variable holding the token to push with (sent as a header, never in a URL).")
@click.option("--attempts", type=click.IntRange(1, 10), default=3, show_default=True,
              help="Tries when the push loses a race; each one resets to the remote branch and renders again.")
@click.option("--push/--no-push", default=True, show_default=True)
@click.pass_context
def publish(ctx: click.Context, remote: str, branch: str | None, token_env: str | None, attempts: int, push: bool) -> None:
    """Render manifests/, commit them as anubis-bot and push; do nothing when they are current."""
    import git

    from anubis.project import load_project

    settings: Settings = ctx.obj
    settings.whole_repository()  # outside a benchmarks repository: say so before anything is rendered
    project = load_project(settings.repo_root)
    branch = branch or project.default_branch
    repo = git.Repo(settings.repo_root, search_parent_directories=True)
    env = git_env(token_env)
    secrets = tuple(v for k, v in env.items() if k == "GIT_CONFIG_VALUE_0")
    for attempt in range(1, attempts + 1):
        rendered = render_repository(settings.repo_root, source=GitSources(settings.repo_root, project).source_for)
        changes = write_repository(settings.repo_root / "manifests", rendered)
        click.echo(f"rendered {len(rendered.files)} manifest file(s): {len(changes.created)} new, "
                   f"{len(changes.changed)} changed, {len(changes.removed)} removed")
        run_git(repo, "add", "--all", "--", "manifests", env=env)
        staged = run_git(repo, "diff", "--cached", "--name-only", "--", "manifests", env=env)
        if not staged.strip():
            click.echo("manifests are up to date: nothing to publish")
            return
        source = repo.head.commit.hexsha
        message = f"Render manifests for {source[:12]} {SKIP_CI}\n\nanubis publish: {len(staged.splitlines())} file(s).\n"
        run_git(repo, "commit", "--quiet", "--message", message, "--", "manifests", env=env)
        click.echo(f"committed {repo.head.commit.hexsha[:12]}: {len(staged.splitlines())} manifest file(s)")
        if not push:
            return
        try:
            run_git(repo, "push", "--porcelain", remote, f"HEAD:refs/heads/{branch}", env=env, secrets=secrets)
            click.echo(f"pushed to {remote}/{branch}")
            return
        except BackendError as e:
            if attempt == attempts:
                raise BackendError(f"{e}; gave up after {attempts} attempts") from e
            click.echo(f"push rejected ({attempt}/{attempts}); rendering again on the new {remote}/{branch}")
            run_git(repo, "fetch", "--quiet", remote, branch, env=env, secrets=secrets)
            run_git(repo, "reset", "--quiet", "--hard", "FETCH_HEAD", env=env)
