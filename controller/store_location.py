"""Where a result store is, and opening it: one place for ``--store``, the controller's ``[store]``
settings and an environment's ``[result_store]``.

A location is written three ways:

* ``sqlite:PATH`` (``sqlite:///abs/path`` too) — a SQLite file;
* ``s3://bucket/prefix`` — an S3 bucket (``prefix`` defaults to ``results/``), with an optional region
  and endpoint (another S3-compatible service) given beside it;
* the name of an environment (``cpu-cluster``): its ``[result_store]`` table.

:func:`parse_location` and :func:`environment_location` are pure; :func:`open_location` opens the
store (boto3 and the SQLite store are imported only then).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from controller.store import ResultStore
from schemas.errors import NotFoundError, StoreError

if TYPE_CHECKING:  # the environments' schema: not imported to open the local store
    from schemas.environment import ResultStoreSettings

DEFAULT_PREFIX = "results/"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
FORMS = "sqlite:PATH, s3://bucket/prefix or the name of an environment"


@dataclass(frozen=True)
class StoreLocation:
    kind: Literal["sqlite", "s3"]
    path: Path | None = None  # sqlite
    bucket: str | None = None  # s3
    prefix: str = DEFAULT_PREFIX
    region: str | None = None
    endpoint_url: str | None = None

    def __str__(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:{self.path}"
        return f"s3://{self.bucket}/{self.prefix}"


def is_url(text: str) -> bool:
    """Whether ``text`` is written as a location rather than as an environment's name."""
    return text.startswith("sqlite:") or "://" in text


def parse_location(url: str, *, region: str | None = None, endpoint_url: str | None = None) -> StoreLocation:
    """``sqlite:PATH`` or ``s3://bucket/prefix`` → a location; :class:`StoreError` saying what is
    accepted otherwise."""
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:"):].removeprefix("//")  # sqlite:///abs/path, as SQLAlchemy writes it
        if not rest:
            raise StoreError(f"the store {url!r} names no file: write sqlite:PATH, e.g. sqlite:results.sqlite3")
        return StoreLocation("sqlite", path=Path(rest).expanduser())
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not _BUCKET.match(bucket):
            raise StoreError(
                f"the store {url!r} does not name an S3 bucket ({bucket!r} is not a bucket name): "
                "write s3://bucket/prefix"
            )
        prefix = prefix or DEFAULT_PREFIX
        return StoreLocation(
            "s3", bucket=bucket, prefix=prefix if prefix.endswith("/") else prefix + "/", region=region,
            endpoint_url=endpoint_url,
        )
    raise StoreError(f"the store {url!r} is not one of {FORMS}; give one of those")


def environment_location(name: str, settings: ResultStoreSettings, default_path: Path) -> StoreLocation:
    """An environment's ``[result_store]``; ``default_path`` is this machine's SQLite store, used
    when the table names no ``path``."""
    if settings.kind == "sqlite":
        return StoreLocation("sqlite", path=Path(settings.path).expanduser() if settings.path else default_path)
    if not settings.bucket:
        raise StoreError(f"environment '{name}' keeps results in S3 but its [result_store] names no bucket; add one")
    return parse_location(f"s3://{settings.bucket}/{settings.prefix}", region=settings.region,
                          endpoint_url=settings.endpoint_url)


def open_location(location: StoreLocation, *, create: bool = False) -> ResultStore:
    """The store at ``location``. A SQLite file that does not exist is created only when ``create``;
    otherwise :class:`NotFoundError` says so (reading commands must not leave an empty store behind)."""
    if location.kind == "sqlite":
        from controller.sqlite_store import SqliteResultStore

        assert location.path is not None
        if not location.path.exists():
            if not create:
                raise NotFoundError(
                    f"No results are stored at {location.path} (the file does not exist). Check the path, "
                    "or run a benchmark first."
                )
            location.path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteResultStore(location.path)
    import boto3

    from controller.s3_store import S3ResultStore

    assert location.bucket is not None
    client = boto3.client("s3", region_name=location.region, endpoint_url=location.endpoint_url)
    return S3ResultStore(client, location.bucket, location.prefix)


def close_store(store: object) -> None:
    """Close ``store`` if it holds something open (a SQLite connection)."""
    close = getattr(store, "close", None)
    if callable(close):
        close()
