"""The dataset fetcher against real servers: http.server in a thread, moto's S3 server, local files."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from controller.fetching import cached_checksum, fetch, fetch_entry, parse_checksum, parse_sources
from schemas.errors import FetchError
from schemas.runspec import Checksum, DataSource, cache_key

PAYLOAD = b"0123456789abcdef" * 40_000  # 640 kB: several chunks
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802
        with self.lock:
            self.hits.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def http_base() -> Iterator[str]:
    _Files.files = {"/data.bin": PAYLOAD}
    _Files.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _only_entry_files(cache: Path) -> list[str]:
    """Files other than lock files: what a failed fetch must not leave behind."""
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock"))


def test_http_fetch_verifies_and_caches(http_base: str, tmp_path: Path) -> None:
    source = DataSource(src=f"{http_base}/data.bin", path="/data/d.bin", checksum=Checksum("md5", MD5))
    path = fetch(source, tmp_path)
    assert path == tmp_path / cache_key(source)
    assert path.read_bytes() == PAYLOAD
    assert cached_checksum(path) == Checksum("md5", MD5)
    # A second fetch is a cache hit: no request.
    assert fetch(source, tmp_path) == path
    assert _Files.hits == ["/data.bin"]


def test_checksum_mismatch_leaves_cache_clean(http_base: str, tmp_path: Path) -> None:
    wrong = "0" * 32
    source = DataSource(src=f"{http_base}/data.bin", path="/data/d.bin", checksum=Checksum("md5", wrong))
    with pytest.raises(FetchError) as info:
        fetch(source, tmp_path)
    assert str(info.value) == f"checksum mismatch for {http_base}/data.bin: expected md5:{wrong}, got md5:{MD5}"
    assert _only_entry_files(tmp_path) == []


def test_http_404_is_a_fetch_error(http_base: str, tmp_path: Path) -> None:
    source = DataSource(src=f"{http_base}/missing.bin", path="/data/m.bin")
    with pytest.raises(FetchError, match=r"answered 404"):
        fetch(source, tmp_path)
    assert _only_entry_files(tmp_path) == []


def test_unreachable_server(tmp_path: Path) -> None:
    source = DataSource(src="http://127.0.0.1:9/nothing", path="/data/x")
    with pytest.raises(FetchError, match=r"cannot fetch http://127.0.0.1:9/nothing"):
        fetch(source, tmp_path, timeout=2)


def test_corrupted_cache_entry_is_fetched_again(http_base: str, tmp_path: Path) -> None:
    source = DataSource(src=f"{http_base}/data.bin", path="/data/d.bin", checksum=Checksum("sha256", SHA256))
    path = fetch(source, tmp_path)
    path.write_bytes(b"garbage")  # size and mtime change: the sidecar no longer vouches for it
    assert fetch(source, tmp_path).read_bytes() == PAYLOAD
    assert _Files.hits == ["/data.bin", "/data.bin"]


def test_missing_sidecar_rehashes_without_download(http_base: str, tmp_path: Path) -> None:
    source = DataSource(src=f"{http_base}/data.bin", path="/data/d.bin", checksum=Checksum("md5", MD5))
    path = fetch(source, tmp_path)
    path.with_name(path.name + ".meta.json").unlink()
    assert fetch(source, tmp_path) == path
    assert _Files.hits == ["/data.bin"]
    assert cached_checksum(path) == Checksum("md5", MD5)


def test_concurrent_fetches_of_one_key(http_base: str, tmp_path: Path) -> None:
    source = DataSource(src=f"{http_base}/data.bin", path="/data/d.bin", checksum=Checksum("md5", MD5))
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(lambda _: fetch(source, tmp_path), range(8)))
    assert len(set(paths)) == 1
    assert paths[0].read_bytes() == PAYLOAD
    assert _Files.hits == ["/data.bin"]  # the lock serialised them: one download, seven hits
    assert _only_entry_files(tmp_path) == sorted([paths[0].name, paths[0].name + ".meta.json"])


def test_concurrent_fetches_from_processes(http_base: str, tmp_path: Path) -> None:
    """Two processes (two `anubis run`s) fetching one key: the fcntl lock, not a thread lock."""
    script = (
        "import sys; from pathlib import Path; from controller.fetching import fetch; "
        "from schemas.runspec import DataSource, Checksum; "
        f"print(fetch(DataSource(src={http_base + '/data.bin'!r}, path='/d', checksum=Checksum('md5', {MD5!r})), "
        f"Path({str(tmp_path)!r})))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outputs) == 1
    assert Path(outputs.pop()).read_bytes() == PAYLOAD
    assert _Files.hits == ["/data.bin"]


def test_file_sources(tmp_path: Path) -> None:
    original = tmp_path / "in.bin"
    original.write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    by_url = fetch(DataSource(src=original.as_uri(), path="/d", checksum=Checksum("md5", MD5)), cache)
    by_path = fetch(DataSource(src=str(original), path="/d"), cache)
    assert by_url.read_bytes() == by_path.read_bytes() == PAYLOAD
    assert cached_checksum(by_path) == Checksum("sha256", SHA256)  # recorded even when none declared
    with pytest.raises(FetchError, match="no such file"):
        fetch(DataSource(src=str(tmp_path / "nope"), path="/d"), cache)


def test_unknown_scheme_and_algorithm(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="unsupported scheme 'ftp'"):
        fetch(DataSource(src="ftp://example.com/x", path="/d"), tmp_path)
    with pytest.raises(FetchError, match="unknown checksum algorithm 'crc99'"):
        fetch(DataSource(src="/etc/hostname", path="/d", checksum=Checksum("crc99", "00")), tmp_path)


def test_parse_checksum_and_sources() -> None:
    assert parse_checksum("ABC") == Checksum("md5", "abc")
    assert parse_checksum("sha256:FF") == Checksum("sha256", "ff")
    assert parse_checksum({"algorithm": "sha1", "hexdigest": "aa"}) == Checksum("sha1", "aa")
    assert parse_checksum(None) is None
    [request] = parse_sources(json.dumps([{"src": "s3://b/k", "path": "/data/k", "checksum": "md5:aa", "key": "k1"}]))
    assert request.key == "k1" and request.source.checksum == Checksum("md5", "aa")
    with pytest.raises(FetchError, match="JSON list"):
        parse_sources('{"src": 1}')


# ---- S3 (moto's server, on 127.0.0.1) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)

    def factory() -> Any:
        return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")

    client = factory()
    client.create_bucket(Bucket="anubis-data")
    client.put_object(Bucket="anubis-data", Key="sets/data.bin", Body=PAYLOAD)
    return factory


def test_s3_fetch(s3: Any, tmp_path: Path) -> None:
    source = DataSource(src="s3://anubis-data/sets/data.bin", path="/data/d.bin", checksum=Checksum("md5", MD5))
    entry = fetch_entry(source, tmp_path, s3_client_factory=s3)
    assert entry.path.read_bytes() == PAYLOAD and entry.size == len(PAYLOAD)


def test_s3_mismatch_and_missing_key(s3: Any, tmp_path: Path) -> None:
    bad = DataSource(src="s3://anubis-data/sets/data.bin", path="/d", checksum=Checksum("md5", "1" * 32))
    with pytest.raises(FetchError, match=r"checksum mismatch for s3://anubis-data/sets/data.bin: expected md5:1+, got md5:"):
        fetch(bad, tmp_path, s3_client_factory=s3)
    with pytest.raises(FetchError, match=r"S3 answered NoSuchKey"):
        fetch(DataSource(src="s3://anubis-data/nope", path="/d"), tmp_path, s3_client_factory=s3)
    assert _only_entry_files(tmp_path) == []


def test_fetch_command_writes_termination_log(http_base: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from anubis.cli import cli

    termination = tmp_path / "termination-log"
    sources = [
        {"src": f"{http_base}/data.bin", "path": "/data/ok", "checksum": f"md5:{MD5}", "key": "ok"},
        {"src": f"{http_base}/data.bin", "path": "/data/bad", "checksum": "md5:" + "2" * 32, "key": "bad"},
    ]
    env = {"ANUBIS_SOURCES": json.dumps(sources), "ANUBIS_CACHE_DIR": str(tmp_path / "unused")}
    result = CliRunner().invoke(
        cli,
        ["fetch", "--cache-dir", str(tmp_path / "cache"), "--termination-log", str(termination)],
        env=env,
    )
    assert result.exit_code == 1, result.output
    assert "checksum mismatch" in termination.read_text()
    assert (tmp_path / "cache" / "ok").read_bytes() == PAYLOAD
    assert not (tmp_path / "cache" / "bad").exists()
    assert not (tmp_path / "unused").exists()


def test_a_canceled_fetch_leaves_nothing(http_base: str, tmp_path: Path) -> None:
    from controller.fetching import FetchCanceled

    source = DataSource(src=f"{http_base}/data.bin", path="/d", checksum=Checksum("md5", MD5))
    with pytest.raises(FetchCanceled, match="was canceled"):
        fetch(source, tmp_path, should_stop=lambda: True)
    assert _only_entry_files(tmp_path) == []
