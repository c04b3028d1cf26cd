"""``--store``: which result store a reading command (or ``anubis baseline reset``) uses.

Without it (and without ``ANUBIS_STORE``), this machine's SQLite store, where ``anubis run`` keeps its
results. With it: ``sqlite:PATH``, ``s3://bucket/prefix``, or the name of an environment, whose
``[result_store]`` says where that environment's results are kept — ``--store cpu-cluster`` reads
what the cluster controller stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from anubis.settings import Settings
from controller.store import BaselineReset, ResetStore, ResultStore
from controller.store_location import (
    FORMS,
    StoreLocation,
    close_store,
    environment_location,
    is_url,
    open_location,
    parse_location,
)
from schemas.errors import NotFoundError, StoreError

F = TypeVar("F", bound=Callable[..., Any])

NO_RESULTS = (
    "No results are stored yet (looked in {path}). Run a benchmark first, for example "
    "`anubis run benchmarks/<name>`, or read another store with --store."
)


def store_option(command: F) -> F:
    """``--store`` (or ``ANUBIS_STORE``), passed to the command as ``store``."""
    option = click.option(
        "--store", "store", default=None, envvar="ANUBIS_STORE", metavar="STORE",
        help=f"The result store to read: {FORMS} (its [result_store]). Default: this machine's.",
    )
    result: F = option(command)
    return result


def locate(settings: Settings, store: str | None) -> StoreLocation:
    """What ``--store`` names, as a location (pure but for reading an environment's file)."""
    if store is None:
        return StoreLocation("sqlite", path=settings.store_path)
    if is_url(store):
        return parse_location(store)
    from renderer.environments import load_environment

    try:
        env = load_environment(settings.repo_root, store)
    except NotFoundError as e:
        raise NotFoundError(f"--store {store!r} is not a store location ({FORMS}) and {e}") from e
    return environment_location(env.name, env.result_store, settings.store_path)


@contextmanager
def opened_store(settings: Settings, store: str | None, *, create: bool = False) -> Iterator[ResultStore]:
    """The store ``--store`` names, closed afterwards. This machine's store, when it does not exist
    yet, is a :class:`NotFoundError` that says how to get results (unless ``create``)."""
    location = locate(settings, store)
    if store is None and not create and not settings.store_path.exists():
        raise NotFoundError(NO_RESULTS.format(path=settings.store_path))
    opened = open_location(location, create=create)
    try:
        yield opened
    finally:
        close_store(opened)


def reset_store(store: ResultStore, where: str) -> ResetStore:
    """``store`` as a place to record baseline resets, or a clear error if it keeps none."""
    if not isinstance(store, ResetStore):
        raise StoreError(f"the result store {where} cannot record baseline resets")
    return store


def stored_resets(store: ResultStore, benchmark: str) -> list[BaselineReset]:
    """The baseline resets ``store`` keeps for ``benchmark`` (none if it keeps none)."""
    return store.resets(benchmark) if isinstance(store, ResetStore) else []


#: Records read to suggest a benchmark's name when the one given has none (a not-found error only).
SUGGESTION_SCAN = 1000


def similar_benchmarks(store: ResultStore, benchmark: str) -> str:
    """`` Stored benchmarks with a similar name: a, b.`` for a not-found message, from the benchmarks of
    the newest :data:`SUGGESTION_SCAN` records ('' when none is close): a name differing in case (an
    imported data.js suite's name becomes lower case) or a letter or two."""
    import difflib

    names = sorted({r.benchmark for r in store.list_runs(limit=SUGGESTION_SCAN)} - {benchmark})
    folded = [n for n in names if n.casefold() == benchmark.casefold()]
    close = folded + [n for n in difflib.get_close_matches(benchmark, names, n=3, cutoff=0.75) if n not in folded]
    return f" Stored benchmarks with a similar name: {', '.join(close[:3])}." if close else ""
