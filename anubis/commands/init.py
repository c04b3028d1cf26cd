"""``anubis init [DIR]``: start a team's benchmarks repository; ``--check`` reports its drift."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import click

from anubis.scaffolding import (
    RELEASE_REPOSITORY,
    InitOptions,
    drift,
    installed_version,
    options_of,
    scaffold,
    write_scaffold,
)

PLACEHOLDER_URL = "https://github.com/OWNER/benchmarks"
GITHUB_URL = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."), required=False)
@click.option("--url", default=None, help="The repository's URL, for anubis.toml and Argo CD (default: git's origin).")
@click.option("--branch", default="main", show_default=True, help="The repository's main branch.")
@click.option("--install", "source", type=click.Choice(["package", "git"]), default="package", show_default=True,
              help="How the workflows install Anubis: the package from the index at a version, or the git "
                   "repository at the release tag.")
@click.option("--anubis-version", "version", default=None, metavar="VERSION",
              help="The Anubis release to pin (default: this one).")
@click.option("--git-url", default=RELEASE_REPOSITORY, show_default=True, help="With --install git: where the tags are.")
@click.option("--check", is_flag=True, help="Write nothing; report how DIR differs from what this version would write "
                                            "(exit 1 when Anubis's own files differ).")
@click.pass_context
def init(ctx: click.Context, directory: Path, url: str | None, branch: str, source: str, version: str | None,
         git_url: str, check: bool) -> None:
    """Scaffold a benchmarks repository in DIR: environments/, anubis.toml, an example benchmark, the
    workflows (installing a pinned Anubis release), the Argo CD bootstrap (manifests/argocd/) and a
    README. Overwrites nothing."""
    root = directory.resolve()
    if check:
        _check(root, version)
        return
    options = InitOptions(url=url or _origin(root) or PLACEHOLDER_URL, branch=branch, source=source,  # type: ignore[arg-type]
                          version=version or installed_version(), git_url=git_url)
    if not GITHUB_URL.match(options.url):  # checked before anything is written
        raise click.BadParameter(f"'{options.url}' is not a GitHub repository URL (https://github.com/<owner>/<repo>);"
                                 " the workflows and Argo CD's pull-request previews need one", param_hint="--url")
    written = write_scaffold(root, scaffold(options))
    for path in written:
        click.echo(f"create  {path}")
    # the Argo CD bootstrap and the example's manifests, as `anubis render` writes them
    from anubis.rendering import render_repository, write_repository

    changes = write_repository(root / "manifests", render_repository(root))
    for path in (*changes.created, *changes.changed):
        click.echo(f"create  manifests/{path}")
    click.echo(f"\n{root}: a benchmarks repository pinned to {options.requirement()}.")
    if options.url == PLACEHOLDER_URL:
        click.echo(f"Set its URL in anubis.toml (now {PLACEHOLDER_URL}) and run `anubis render` again.")
    click.echo("Next: git init, commit, push; then see README.md for the bot, Argo CD and branch protection.")


def _check(root: Path, version: str | None) -> None:
    options = options_of(root, version or installed_version())
    report = drift(root, scaffold(dataclasses.replace(options, url=options.url or PLACEHOLDER_URL)))
    failed = False
    for item in report:
        if item.state == "same":
            continue
        owner = "Anubis's" if item.managed else "yours"
        click.echo(f"{item.state:>7}  {item.path}  ({owner})")
        failed = failed or item.managed
    if failed:
        click.echo(f"{root}: Anubis's files differ from what {options.requirement()} writes; copy them from a fresh "
                   "`anubis init` into an empty folder", err=True)
        raise SystemExit(1)
    click.echo(f"{root}: Anubis's files are as {options.requirement()} writes them")


def _origin(root: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    url = done.stdout.strip()
    if done.returncode != 0 or not url:
        return None
    if url.startswith("git@github.com:"):
        url = "https://github.com/" + url.removeprefix("git@github.com:")
    return url.removesuffix(".git")
