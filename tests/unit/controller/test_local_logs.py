"""The kept log of a local run (controller/local/logs.py): flushed as it goes, so that a reader
follows it and a run killed with SIGKILL leaves a readable log up to about the kill."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from controller.local.logs import CappedLog
from controller.logsource import GzipReader

ROOT = Path(__file__).resolve().parents[3]


def _read(path: Path) -> list[bytes]:
    reader = GzipReader(path)
    try:
        return [line for batch in reader.batches() for line in batch]
    finally:
        reader.close()


def test_a_reader_sees_the_lines_within_the_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "output.log.gz"
    log = CappedLog(path, flush_interval=0.05)
    try:
        log.write(b"".join(b"line %d\n" % n for n in range(1000)))  # then nothing: the flusher sees to it
        deadline = time.monotonic() + 10
        while len(_read(path)) < 1000:
            assert time.monotonic() < deadline, "the log was not flushed while the benchmark was quiet"
            time.sleep(0.02)
        assert _read(path) == [b"line %d" % n for n in range(1000)]
    finally:
        log.close()


def test_a_run_killed_with_sigkill_leaves_its_log_up_to_about_the_kill(tmp_path: Path) -> None:
    path = tmp_path / "output.log.gz"
    writer = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from controller.local.logs import CappedLog
        log = CappedLog(Path({str(path)!r}), flush_interval=0.1)
        n = 0
        while True:
            log.write(b"".join(b"line %d\\n" % i for i in range(n, n + 1000)))
            n += 1000
            if n == 50_000:
                print("written", flush=True)
            time.sleep(0.001)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", writer], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "written"
        time.sleep(0.5)  # several flush intervals
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    lines = _read(path)
    assert len(lines) >= 50_000, f"only {len(lines)} lines survived the kill"
    assert lines == [b"line %d" % n for n in range(len(lines))]


def test_the_cap_note_and_the_order_of_many_writes(tmp_path: Path) -> None:
    """Writes are compressed on the log's own thread, in order; past the cap the rest is counted and
    a note says so at the end."""
    path = tmp_path / "output.log.gz"
    log = CappedLog(path, cap_bytes=100_000)
    for n in range(20_000):
        log.write(b"line %d\n" % n)
    log.close()
    log.write(b"after close: ignored\n")
    text = b"".join(b"line %d\n" % n for n in range(20_000))
    kept = gzip.decompress(path.read_bytes())
    assert kept.startswith(text[:100_000]) and log.written == 100_000
    assert kept[100_000:] == f"\n[anubis: the log was cut at 100000 bytes; {len(text) - 100_000} more bytes of output were not kept]\n".encode()


def test_the_reader_waits_for_a_compressor_that_is_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most QUEUE_BYTES wait for the compressor (constant memory): past that, write() waits; once
    the compressor catches up, everything is in the file, in order."""
    import threading

    from controller.local import logs

    monkeypatch.setattr(logs, "QUEUE_BYTES", 100)
    release = threading.Event()
    real_write = logs.GzipWriter.write

    def slow_write(self: logs.GzipWriter, data: bytes) -> None:
        release.wait(30)
        real_write(self, data)

    monkeypatch.setattr(logs.GzipWriter, "write", slow_write)
    capped = CappedLog(tmp_path / "output.log.gz")
    chunks = [b"line %03d %s\n" % (n, b"x" * 40) for n in range(10)]

    def write_all() -> None:
        for chunk in chunks:
            capped.write(chunk)

    writer = threading.Thread(target=write_all)
    writer.start()
    writer.join(0.5)
    assert writer.is_alive(), "write() should wait while the compressor is 100 bytes behind"
    release.set()
    writer.join(30)
    assert not writer.is_alive()
    capped.close()
    assert gzip.decompress((tmp_path / "output.log.gz").read_bytes()) == b"".join(chunks)
