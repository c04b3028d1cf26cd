"""The fetch Job → run pod hand-off on the shared cache (issue 15 item 10): the fetcher records its
state, the credential-less init container waits for it, relays its failure, and checks the entries."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from anubis.cli import cli
from controller.fetch_handoff import read_status, wait_for_fetch, write_status
from controller.fetching import parse_sources
from schemas.errors import FetchError


def sources_env(src: Path, checksum: str | None) -> str:
    item = {"src": f"file://{src}", "path": "/data/x.bin", "checksum": checksum, "key": None, "id": None}
    return json.dumps([item])


def fetch(tmp_path: Path, env: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["fetch", "--cache-dir", str(tmp_path / "cache"), "--termination-log", str(tmp_path / "term"), *args],
        env={"ANUBIS_SOURCES": env, "ANUBIS_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    return result.exit_code, result.output


def test_the_fetcher_records_success_and_the_waiter_checks_the_entries(tmp_path: Path) -> None:
    data = tmp_path / "x.bin"
    data.write_bytes(b"payload")
    digest = f"sha256:{hashlib.sha256(b'payload').hexdigest()}"
    env = sources_env(data, digest)
    status = tmp_path / "cache" / ".anubis-fetch" / "run-fetch.json"
    code, output = fetch(tmp_path, env, "--status-file", str(status))
    assert code == 0, output
    assert (read_status(status) or {})["state"] == "succeeded"
    code, output = fetch(tmp_path, env, "--wait", "--status-file", str(status), "--timeout", "5")
    assert code == 0 and "verified 1 source(s)" in output
    # an entry changed after the fetcher verified it is refused
    [request] = parse_sources(env)
    (tmp_path / "cache" / request.key).write_bytes(b"tampered!")
    with pytest.raises(FetchError, match="changed after the fetch Job verified it"):
        wait_for_fetch(status, [request], tmp_path / "cache", 1)


def test_a_failed_fetch_reaches_the_run_pod_with_the_fetchers_reason(tmp_path: Path) -> None:
    data = tmp_path / "x.bin"
    data.write_bytes(b"payload")
    env = sources_env(data, "sha256:" + "0" * 64)
    status = tmp_path / "cache" / ".anubis-fetch" / "run-fetch.json"
    code, _ = fetch(tmp_path, env, "--status-file", str(status))
    assert code != 0
    recorded = read_status(status) or {}
    assert recorded["state"] == "failed" and "checksum" in recorded["reason"]
    code, _ = fetch(tmp_path, env, "--wait", "--status-file", str(status), "--timeout", "5")
    assert code != 0
    assert "checksum" in (tmp_path / "term").read_text()  # the waiter's termination message: the reason


def test_the_waiter_gives_up_with_a_reason_and_refuses_a_wrong_checksum(tmp_path: Path) -> None:
    status = tmp_path / "never" / "run-fetch.json"
    clock = iter(range(0, 1000, 10))
    with pytest.raises(FetchError, match="run-fetch has not started"):
        wait_for_fetch(status, [], tmp_path, 30, clock=lambda: float(next(clock)), sleep=lambda s: None)
    write_status(status, "running")
    clock = iter(range(0, 1000, 10))
    with pytest.raises(FetchError, match="is still fetching"):
        wait_for_fetch(status, [], tmp_path, 30, clock=lambda: float(next(clock)), sleep=lambda s: None)
    # a success whose entry was fetched for another checksum: refused
    data = tmp_path / "x.bin"
    data.write_bytes(b"payload")
    code, output = fetch(tmp_path, sources_env(data, None), "--status-file", str(status))
    assert code == 0, output
    [unverified] = parse_sources(sources_env(data, None))
    wrong = parse_sources(sources_env(data, "sha256:" + "1" * 64))[0]
    (tmp_path / "cache" / wrong.key).write_bytes(b"payload")
    (tmp_path / "cache" / (wrong.key + ".meta.json")).write_text(
        (tmp_path / "cache" / (unverified.key + ".meta.json")).read_text()
    )
    with pytest.raises(FetchError):
        wait_for_fetch(status, [wrong], tmp_path / "cache", 1)


def test_wait_needs_a_status_file(tmp_path: Path) -> None:
    code, output = fetch(tmp_path, "[]", "--wait")
    assert code == 2 and "--wait needs --status-file" in output
