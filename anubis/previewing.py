"""A pull request's runs on the cluster before it is merged (``anubis preview --pr N --head REF``, and
``anubis respond`` for /anubis rerun and cancel).

Renders the pull request's runs into ``manifests-preview/pr-<n>/<env>/<benchmark>/<run_id>.yaml`` on
the bot-owned preview branch that the previews ApplicationSet syncs (``renderer.argocd``:
``PREVIEW_BRANCH``, ``PREVIEW_LABEL``), in a namespace of the pull request and environment, ``anubis-pr-<n>-<env>``,
so that its Jobs never meet the default branch's, with the namespace's support objects
(``renderer.previews``: the runs' ServiceAccount, the controller's RoleBinding) and an ``emptyDir``
dataset cache instead of the environment's PVC. ``--close`` removes the folder (label removed or pull
request closed): Argo CD prunes the runs and the support objects.

Trust: only ``benchmarks/`` is taken from the pull request, with ``git archive`` (files as data:
nothing is checked out over the trusted tree, no hook or script of the pull request runs). The
environments (their policies decide what a run may ask for), ``anubis.toml`` and Anubis itself come
from the trusted checkout of the default branch. Validating and rendering read TOML and hash files;
they never execute anything from a descriptor.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import click
import yaml

from anubis.gitbot import git_env, run_git
from anubis.project import load_project
from anubis.rendering import render_tree
from anubis.settings import Settings
from anubis.trees import checkout_tree
from renderer.objects import QUEUE_NAME_LABEL
from renderer.planning import Catalog
from renderer.previews import PREVIEW_DATASET_CACHE_SIZE, preview_namespace, preview_support_files
from schemas.environment import DatasetCache, Environment
from schemas.errors import BackendError
from schemas.runspec import Source

PREVIEW_ROOT = "manifests-preview"
RERUNS_FILE = "reruns.json"  # per pull request: benchmark → extra rerun count (/anubis rerun)
CONFIRMATIONS_FILE = "confirmations.json"  # per pull request: keys of the confirmation runs made


_BRANCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")  # fullmatch: '$' allows a final newline


def preview_branch(number: int, head_ref: str | None) -> str:
    """The branch a preview's results are recorded under: the pull request's head branch name when it
    is a plain branch name (it comes from the pull request's author), else ``pr-<n>``."""
    if head_ref and _BRANCH_NAME.fullmatch(head_ref) and ".." not in head_ref:
        return head_ref
    return f"pr-{number}"


def preview_environment(env: Environment, number: int) -> Environment:
    """``env`` with the pull request's own namespace and an ``emptyDir`` dataset cache (no PVC per pull
    request) for a kubernetes environment; others unchanged."""
    if env.kind != "kubernetes":
        return env
    cache = env.dataset_cache
    size = cache.size if cache.kind == "emptyDir" and cache.size else PREVIEW_DATASET_CACHE_SIZE
    return replace(env, destination=replace(env.destination, namespace=preview_namespace(number, env.name)),
                   dataset_cache=DatasetCache(kind="emptyDir", size=size))


class PreviewCatalog(Catalog):
    def __init__(self, repo_root: Path, number: int) -> None:
        super().__init__(repo_root)
        self.number = number

    def get(self, name: str) -> Environment:
        return preview_environment(super().get(name), self.number)


def _descriptor_rerun(descriptor: Path) -> int:
    try:
        info = tomllib.loads(descriptor.read_text(encoding="utf-8")).get("info", {})
        return int(info.get("rerun", 0)) if isinstance(info, dict) else 0
    except (OSError, ValueError, tomllib.TOMLDecodeError):
        return 0


def render_preview(trusted_root: Path, pr_tree: Path, number: int, head_sha: str | None,
                   reruns: dict[str, int], head_ref: str | None = None) -> dict[str, str]:
    """The pull request's files ``<env>/<benchmark>/<run_id>.yaml`` in a tree made of the trusted
    environments and the pull request's benchmarks (the namespace's support objects: :func:`support_files`)."""
    with tempfile.TemporaryDirectory(prefix="anubis-preview-") as tmp:
        tree = Path(tmp)
        for name in ("environments", "anubis.toml"):
            src = trusted_root / name
            if src.is_dir():
                shutil.copytree(src, tree / name)
            elif src.is_file():
                shutil.copy2(src, tree / name)
        if (pr_tree / "benchmarks").is_dir():
            shutil.copytree(pr_tree / "benchmarks", tree / "benchmarks", symlinks=True)
        project = load_project(tree)
        source = Source(repository=project.repository, commit=head_sha, pull_request=number,
                        branch=preview_branch(number, head_ref))

        def overrides(descriptor: Path) -> list[str]:
            extra = reruns.get(descriptor.parent.name, 0)
            return [f"info.rerun={_descriptor_rerun(descriptor) + extra}"] if extra else []

        return render_tree(tree, catalog=PreviewCatalog(tree, number), source=lambda _: source, overrides=overrides)


def support_files(trusted_root: Path, number: int, runs: Mapping[str, str]) -> dict[str, str]:
    """``<env>/_namespace.yaml`` → the support objects of the preview namespace of each environment the
    pull request has ``runs`` in (``<env>/<benchmark>/<run_id>.yaml`` → text): its runs' ServiceAccount,
    the controller's RoleBinding and the Kueue LocalQueues its runs name, from the trusted environments."""
    environments = {rel.split("/")[0] for rel in runs}
    envs = [e for e in PreviewCatalog(trusted_root, number).valid() if e.kind == "kubernetes" and e.name in environments]
    queues: dict[str, set[str]] = {}
    for rel, text in runs.items():
        for document in yaml.load_all(text, Loader=yaml.CSafeLoader):
            queue = ((document or {}).get("metadata", {}).get("labels") or {}).get(QUEUE_NAME_LABEL)
            if queue:
                queues.setdefault(rel.split("/")[0], set()).add(queue)
    return preview_support_files(number, envs, queues)


def update_preview(settings: Settings, number: int, head: str | None, head_sha: str | None, head_ref: str | None,
                   close: bool, rerun: str | None, cancel: str | None, remote: str, branch: str, token_env: str | None,
                   push: bool, confirmation: str | None = None) -> bool:
    """Render pull request ``number``'s runs to the preview branch (or tear them down when ``close``):
    the ``anubis preview`` command, and what ``anubis respond`` does for /anubis rerun and cancel and
    for a confirmation run (``confirmation``: its key, kept in :data:`CONFIRMATIONS_FILE` so that a
    repeated request re-runs nothing: False then)."""
    import git

    if not close and head is None:
        raise click.UsageError("give --head (the pull request's head, fetched) or --close")
    repo = git.Repo(settings.repo_root, search_parent_directories=True)
    env = git_env(token_env)
    secrets = tuple(v for k, v in env.items() if k == "GIT_CONFIG_VALUE_0")
    folder = f"{PREVIEW_ROOT}/pr-{number}"
    with tempfile.TemporaryDirectory(prefix="anubis-previews-") as tmp:
        work = Path(tmp) / "previews"
        _open_branch(repo, work, remote, branch, env, secrets)
        target = work / folder
        reruns = _read_reruns(target)
        confirmations = _read_confirmations(target)
        if confirmation is not None and confirmation in confirmations:
            click.echo(f"{folder}: {confirmation} was re-run already; nothing to do")
            return False
        if confirmation is not None:
            confirmations.append(confirmation)
        if rerun:
            for name in _names(rerun, target):
                reruns[name] = reruns.get(name, 0) + 1
        if target.exists():
            shutil.rmtree(target)
        if close:
            message = f"Tear down the preview of #{number}"
        else:
            assert head is not None
            sha = head_sha or repo.commit(head).hexsha
            with checkout_tree(settings.repo_root, head, ("benchmarks",)) as pr_tree:
                files = render_preview(settings.repo_root, pr_tree, number, sha, reruns, head_ref)
            if cancel:
                dropped = _names(cancel, None) if cancel != "all" else None
                files = {k: v for k, v in files.items() if dropped is not None and k.split("/")[1] not in dropped}
            support = support_files(settings.repo_root, number, files)
            for rel, text in {**files, **support}.items():
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            if reruns:
                target.mkdir(parents=True, exist_ok=True)
                (target / RERUNS_FILE).write_text(json.dumps(reruns, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            if confirmations:
                target.mkdir(parents=True, exist_ok=True)
                (target / CONFIRMATIONS_FILE).write_text(json.dumps(confirmations, indent=2) + "\n", encoding="utf-8")
            message = f"Preview of #{number} at {sha[:12]}: {len(files)} run(s)"
        bot = git.Repo(work)
        run_git(bot, "add", "--all", "--", ".", env=env)
        if not run_git(bot, "status", "--porcelain", env=env).strip():
            click.echo(f"{folder}: up to date")
            return True
        run_git(bot, "commit", "--quiet", "--message", message, env=env)
        click.echo(f"{message} ({branch} {bot.head.commit.hexsha[:12]})")
        if push:
            _push(bot, remote, branch, env, secrets)
    return True


def _names(spec: str, target: Path | None) -> list[str]:
    if spec != "all":
        return [spec]
    if target is None or not target.is_dir():
        return []
    return sorted({p.name for env in target.iterdir() if env.is_dir() for p in env.iterdir() if p.is_dir()})


def _read_reruns(target: Path) -> dict[str, int]:
    try:
        raw = json.loads((target / RERUNS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _read_confirmations(target: Path) -> list[str]:
    try:
        raw = json.loads((target / CONFIRMATIONS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(k) for k in raw] if isinstance(raw, list) else []


def _open_branch(repo: object, work: Path, remote: str, branch: str, env: dict[str, str], secrets: tuple[str, ...]) -> None:
    """A fresh clone of the preview branch into ``work`` (an empty orphan branch if it does not exist yet)."""
    import git

    url = next(iter(repo.remote(remote).urls))  # type: ignore[attr-defined]
    bot = git.Repo.init(work)
    run_git(bot, "remote", "add", remote, url, env=env)
    try:
        run_git(bot, "fetch", "--quiet", "--depth", "1", remote, branch, env=env, secrets=secrets)
        run_git(bot, "checkout", "--quiet", "-b", branch, "FETCH_HEAD", env=env)
    except BackendError:
        run_git(bot, "checkout", "--quiet", "--orphan", branch, env=env)


def _push(bot: object, remote: str, branch: str, env: dict[str, str], secrets: tuple[str, ...]) -> None:
    for attempt in range(1, 4):
        try:
            run_git(bot, "push", "--porcelain", remote, f"HEAD:refs/heads/{branch}", env=env, secrets=secrets)
            return
        except BackendError:
            if attempt == 3:
                raise
            # another pull request's preview landed meanwhile: each one owns its own folder, so a rebase is clean
            run_git(bot, "pull", "--quiet", "--rebase", "--depth", "50", remote, branch, env=env, secrets=secrets)
