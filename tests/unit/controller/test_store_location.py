"""Store locations: the ways one is written, and what is refused with what message."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.store_location import (
    StoreLocation,
    close_store,
    environment_location,
    is_url,
    open_location,
    parse_location,
)
from schemas.environment import ResultStoreSettings
from schemas.errors import NotFoundError, StoreError


def test_sqlite_forms() -> None:
    assert parse_location("sqlite:results.sqlite3") == StoreLocation("sqlite", path=Path("results.sqlite3"))
    assert parse_location("sqlite:///var/lib/anubis/r.sqlite3").path == Path("/var/lib/anubis/r.sqlite3")
    assert parse_location("sqlite:/abs/r.sqlite3").path == Path("/abs/r.sqlite3")
    with pytest.raises(StoreError, match="names no file"):
        parse_location("sqlite:")


def test_s3_forms() -> None:
    assert parse_location("s3://anubis-results") == StoreLocation("s3", bucket="anubis-results", prefix="results/")
    assert parse_location("s3://anubis-results/team/a").prefix == "team/a/"
    located = parse_location("s3://b-1/x/", region="eu-west-1", endpoint_url="http://minio:9000")
    assert (located.region, located.endpoint_url, str(located)) == ("eu-west-1", "http://minio:9000", "s3://b-1/x/")
    for bad in ("s3://", "s3://Upper_Case/x", "s3://ab/"):
        with pytest.raises(StoreError, match="does not name an S3 bucket"):
            parse_location(bad)
    with pytest.raises(StoreError, match="is not one of sqlite:PATH, s3://bucket/prefix or the name of an environment"):
        parse_location("gs://bucket/x")


def test_what_counts_as_a_url() -> None:
    assert is_url("sqlite:x") and is_url("s3://b") and is_url("gs://b")
    assert not is_url("cpu-cluster")


def test_an_environments_result_store() -> None:
    default = Path("/home/me/.local/share/anubis/results.sqlite3")
    assert environment_location("local", ResultStoreSettings(), default) == StoreLocation("sqlite", path=default)
    assert environment_location("local", ResultStoreSettings(path="/data/r.sqlite3"), default).path == Path("/data/r.sqlite3")
    s3 = ResultStoreSettings(kind="s3", bucket="anubis-results", prefix="results", region="us-east-1")
    assert environment_location("cpu-cluster", s3, default) == StoreLocation(
        "s3", bucket="anubis-results", prefix="results/", region="us-east-1")
    with pytest.raises(StoreError, match="environment 'gpu' keeps results in S3 but its \\[result_store\\] names no bucket"):
        environment_location("gpu", ResultStoreSettings(kind="s3"), default)


def test_reading_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "sub" / "results.sqlite3"
    with pytest.raises(NotFoundError, match="No results are stored at"):
        open_location(StoreLocation("sqlite", path=missing))
    assert not missing.parent.exists()
    store = open_location(StoreLocation("sqlite", path=missing), create=True)
    assert missing.exists() and store.latest() is None
    close_store(store)
