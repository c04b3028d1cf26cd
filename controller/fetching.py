"""The dataset fetcher: one data source → one verified file in a cache folder.

Shared by the local backend (``anubis run``) and the cluster's init container (``anubis fetch``), so
both name and verify cache entries the same way (:func:`schemas.runspec.cache_key`).

A cache entry is the file ``cache_dir/<key>`` plus a sidecar ``cache_dir/<key>.meta.json`` holding its
size, modification time and digest. An entry appears only complete and verified:

* the download goes to a temporary file in the cache folder (same file system), hashed as it streams;
* on a checksum mismatch or any error the temporary file is removed and :class:`FetchError` raised;
* otherwise the file is moved into place with :func:`os.replace` and the sidecar written after it.

A cache hit is re-verified cheaply: size and modification time must still match the sidecar; when
they do not (or the sidecar is missing) the file is hashed again, and re-fetched if it no longer
matches. Concurrent fetches of one key (two runs, two init containers on one volume) are serialised
with an exclusive ``fcntl`` lock on ``cache_dir/<key>.lock``; the second one finds a hit.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from schemas.errors import FetchError
from schemas.runspec import Checksum, DataSource, cache_key

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
DEFAULT_TIMEOUT = 30.0  # seconds without progress on one socket operation
DEFAULT_ALGORITHM = "md5"  # the original descriptors' "md5" field
UNVERIFIED_ALGORITHM = "sha256"  # what we record for sources that declare no checksum

S3ClientFactory = Callable[[], Any]


@dataclass(frozen=True)
class CacheEntry:
    """A verified file in the cache and what it was verified against."""

    path: Path
    size: int
    checksum: Checksum  # the declared one, or sha256 of what was downloaded when none was declared
    declared: bool


def parse_checksum(value: str | dict[str, str] | None) -> Checksum | None:
    """``"md5:abc…"``, a bare hex digest (md5), or ``{"algorithm": …, "hexdigest": …}``."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return Checksum(algorithm=value["algorithm"].lower(), hexdigest=value["hexdigest"].lower())
    algorithm, sep, digest = value.partition(":")
    if not sep:
        return Checksum(algorithm=DEFAULT_ALGORITHM, hexdigest=value.strip().lower())
    return Checksum(algorithm=algorithm.strip().lower(), hexdigest=digest.strip().lower())


def default_s3_client_factory(endpoint_url: str | None = None, region: str | None = None) -> S3ClientFactory:
    """A factory for a boto3 S3 client; boto3 is imported only when an s3:// source is fetched."""

    def make() -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None)

    return make


def fetch(
    source: DataSource,
    cache_dir: Path,
    *,
    key: str | None = None,
    s3_client_factory: S3ClientFactory | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """The cached, verified file for ``source`` (downloaded if needed). Raises :class:`FetchError`.

    ``should_stop`` is asked between chunks; when it says yes the download is abandoned (cleanly)
    with :class:`FetchCanceled`.
    """
    return fetch_entry(
        source, cache_dir, key=key, s3_client_factory=s3_client_factory, timeout=timeout, should_stop=should_stop
    ).path


def fetch_entry(
    source: DataSource,
    cache_dir: Path,
    *,
    key: str | None = None,
    s3_client_factory: S3ClientFactory | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    should_stop: Callable[[], bool] | None = None,
) -> CacheEntry:
    """Like :func:`fetch`, returning the size and checksum as well."""
    key = key or cache_key(source)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create the dataset cache folder {cache_dir}: {e.strerror}") from e
    target = cache_dir / key
    with _locked(cache_dir / f"{key}.lock"):
        hit = _verified_hit(source, target)
        if hit is not None:
            log.debug("cache hit for %s at %s", source.src, target)
            return hit
        return _download(
            source, target, s3_client_factory=s3_client_factory, timeout=timeout, should_stop=should_stop
        )


# ---- cache entries ----------------------------------------------------------------------------


def _meta_path(target: Path) -> Path:
    return target.with_name(target.name + ".meta.json")


def cached_checksum(path: Path) -> Checksum | None:
    """The checksum recorded beside a cache entry, if any (for reproducibility records)."""
    try:
        meta = json.loads(_meta_path(path).read_text(encoding="utf-8"))
        return Checksum(algorithm=meta["algorithm"], hexdigest=meta["hexdigest"])
    except (OSError, ValueError, KeyError):
        return None


def _verified_hit(source: DataSource, target: Path) -> CacheEntry | None:
    try:
        st = target.stat()
    except FileNotFoundError:
        return None
    meta_file = _meta_path(target)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    wanted = source.checksum
    if meta is not None and meta.get("size") == st.st_size and meta.get("mtime_ns") == st.st_mtime_ns:
        recorded = Checksum(algorithm=meta.get("algorithm", ""), hexdigest=meta.get("hexdigest", ""))
        if wanted is None or recorded == wanted:
            return CacheEntry(target, st.st_size, recorded, declared=wanted is not None)
    # The sidecar is missing or stale: hash the file again.
    algorithm = wanted.algorithm if wanted else UNVERIFIED_ALGORITHM
    try:
        with target.open("rb") as f:
            digest = _new_hash(algorithm, source)
            for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
                digest.update(chunk)
    except OSError:
        digest = None
    if digest is not None and (wanted is None or digest.hexdigest() == wanted.hexdigest):
        checksum = Checksum(algorithm, digest.hexdigest())
        _write_meta(target, checksum)
        return CacheEntry(target, st.st_size, checksum, declared=wanted is not None)
    log.warning("cache entry %s no longer matches %s; fetching it again", target, source.src)
    _remove(target)
    _remove(meta_file)
    return None


def _write_meta(target: Path, checksum: Checksum) -> None:
    st = target.stat()
    meta = {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "algorithm": checksum.algorithm,
        "hexdigest": checksum.hexdigest,
    }
    meta_file = _meta_path(target)
    tmp = meta_file.with_name(f".{meta_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp, meta_file)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _new_hash(algorithm: str, source: DataSource) -> Any:
    try:
        return hashlib.new(algorithm)
    except ValueError as e:
        raise FetchError(
            f"unknown checksum algorithm {algorithm!r} for {source.src}: use one of md5, sha1, sha256, sha512"
        ) from e


# ---- downloads ----------------------------------------------------------------------------------


def _download(
    source: DataSource,
    target: Path,
    *,
    s3_client_factory: S3ClientFactory | None,
    timeout: float,
    should_stop: Callable[[], bool] | None,
) -> CacheEntry:
    wanted = source.checksum
    algorithm = wanted.algorithm if wanted else UNVERIFIED_ALGORITHM
    digest = _new_hash(algorithm, source)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            sink = _HashingWriter(out, digest, source.src, should_stop)
            _copy_source(source, sink, s3_client_factory=s3_client_factory, timeout=timeout)
            out.flush()
            os.fsync(out.fileno())
        got = Checksum(algorithm, digest.hexdigest())
        if wanted is not None and got.hexdigest != wanted.hexdigest:
            raise FetchError(f"checksum mismatch for {source.src}: expected {wanted}, got {got}")
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _write_meta(target, got)
    log.info("fetched %s (%d bytes) into %s", source.src, sink.size, target)
    return CacheEntry(target, sink.size, got, declared=wanted is not None)


class FetchCanceled(FetchError):
    """The fetch was abandoned because the run was canceled."""


class _HashingWriter:
    def __init__(self, out: IO[bytes], digest: Any, src: str, should_stop: Callable[[], bool] | None) -> None:
        self.out = out
        self.digest = digest
        self.size = 0
        self.src = src
        self.should_stop = should_stop

    def write(self, chunk: bytes) -> None:
        if self.should_stop is not None and self.should_stop():
            raise FetchCanceled(f"fetching {self.src} was canceled")
        self.out.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)


def _copy_source(
    source: DataSource, sink: _HashingWriter, *, s3_client_factory: S3ClientFactory | None, timeout: float
) -> None:
    src = source.src
    parsed = urllib.parse.urlparse(src)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        _copy_http(src, sink, timeout)
    elif scheme == "s3":
        _copy_s3(src, parsed, sink, s3_client_factory or default_s3_client_factory())
    elif scheme == "file" or scheme == "" or (len(scheme) == 1 and os.name == "nt"):
        path = Path(urllib.parse.unquote(parsed.path)) if scheme == "file" else Path(src)
        _copy_file(src, path, sink)
    else:
        raise FetchError(f"cannot fetch {src}: unsupported scheme {scheme!r} (use http, https, s3 or file)")


def _copy_stream(stream: Any, sink: _HashingWriter) -> None:
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            return
        sink.write(chunk)


def _copy_http(src: str, sink: _HashingWriter, timeout: float) -> None:
    import urllib.error  # imported here: `anubis run` without http sources need not pay for it
    import urllib.request

    request = urllib.request.Request(src, headers={"User-Agent": "anubis-fetcher"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            _copy_stream(response, sink)
    except urllib.error.HTTPError as e:
        raise FetchError(f"cannot fetch {src}: the server answered {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise FetchError(f"cannot fetch {src}: {e.reason}") from e
    except TimeoutError as e:
        raise FetchError(f"cannot fetch {src}: no data for {timeout:g} s (timed out)") from e
    except OSError as e:
        raise FetchError(f"cannot fetch {src}: {e}") from e
    if expected is not None and expected.isdigit() and int(expected) != sink.size:
        raise FetchError(f"cannot fetch {src}: the download stopped after {sink.size} of {expected} bytes")


def _copy_s3(src: str, parsed: urllib.parse.ParseResult, sink: _HashingWriter, factory: S3ClientFactory) -> None:
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise FetchError(f"cannot fetch {src}: an S3 source is s3://BUCKET/KEY")
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as e:  # pragma: no cover - boto3 is a dependency
        raise FetchError(f"cannot fetch {src}: boto3 is not installed") from e
    try:
        response = factory().get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        try:
            _copy_stream(body, sink)
        finally:
            body.close()
    except ClientError as e:
        error = e.response.get("Error", {})
        code = error.get("Code", "error")
        message = error.get("Message") or code
        raise FetchError(f"cannot fetch {src}: S3 answered {code}: {message}") from e
    except BotoCoreError as e:
        raise FetchError(f"cannot fetch {src}: {e}") from e


def _copy_file(src: str, path: Path, sink: _HashingWriter) -> None:
    try:
        with path.open("rb") as f:
            _copy_stream(f, sink)
    except FileNotFoundError as e:
        raise FetchError(f"cannot fetch {src}: no such file on this machine") from e
    except IsADirectoryError as e:
        raise FetchError(f"cannot fetch {src}: it is a folder; a data source is one file") from e
    except OSError as e:
        raise FetchError(f"cannot fetch {src}: {e.strerror}") from e


# ---- the init container's entry point ------------------------------------------------------------


@dataclass(frozen=True)
class SourceRequest:
    """One item of ``ANUBIS_SOURCES``: a source, where the run sees it, and its cache key."""

    source: DataSource
    key: str


def parse_sources(text: str) -> list[SourceRequest]:
    """Parse ``ANUBIS_SOURCES``: a JSON list of ``{src, path, checksum, key, id}``."""
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise FetchError(f"ANUBIS_SOURCES is not valid JSON: {e}") from e
    if not isinstance(raw, list):
        raise FetchError("ANUBIS_SOURCES must be a JSON list of {src, path, checksum, key}")
    requests: list[SourceRequest] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("src"), str):
            raise FetchError(f"ANUBIS_SOURCES[{i}] must be an object with a 'src' string")
        source = DataSource(
            src=item["src"],
            path=str(item.get("path", "")),
            checksum=parse_checksum(item.get("checksum")),
            id=item.get("id"),
        )
        requests.append(SourceRequest(source=source, key=str(item.get("key") or cache_key(source))))
    return requests

