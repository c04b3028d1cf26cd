from __future__ import annotations

import json
import math
import os
import threading
import time
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest

import benchmarkai
import client_lib
from client_lib import Emitter
from schemas.loading import load_schema

VALIDATOR = jsonschema.Draft202012Validator(load_schema("metric_event"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BENCHMARK_AI", "BENCHMARK_AI_FIFO_FILEPATH", "BENCHMARK_AI_FIFO_MAX_WAIT_TIME"):
        monkeypatch.delenv(name, raising=False)


def _fifo_env(monkeypatch: pytest.MonkeyPatch, path: Path, wait: str = "0.5") -> None:
    monkeypatch.setenv("BENCHMARK_AI", "fifo")
    monkeypatch.setenv("BENCHMARK_AI_FIFO_FILEPATH", str(path))
    monkeypatch.setenv("BENCHMARK_AI_FIFO_MAX_WAIT_TIME", wait)


def _records(data: bytes) -> list[dict[str, object]]:
    records = [json.loads(line) for line in data.decode().splitlines()]
    for record in records:
        VALIDATOR.validate(record)
    return records


def test_benchmarkai_is_client_lib() -> None:
    assert benchmarkai.emit is client_lib.emit


def test_stdout_mode_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    client_lib.emit({"accuracy": 0.93, "epochs": 3})
    out = capsys.readouterr().out
    assert out == 'ANUBIS_METRICS {"accuracy": 0.93, "epochs": 3}\n'


def test_mode_is_read_at_call_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emitter = Emitter()
    emitter.emit({"a": 1})
    _fifo_env(monkeypatch, tmp_path / "events.jsonl")
    emitter.emit({"a": 2})
    monkeypatch.setenv("BENCHMARK_AI", "stdout")
    emitter.emit({"a": 3})
    assert capsys.readouterr().out.splitlines() == ['ANUBIS_METRICS {"a": 1}', 'ANUBIS_METRICS {"a": 3}']
    assert [r["metrics"] for r in _records((tmp_path / "events.jsonl").read_bytes())] == [{"a": 2}]


def test_non_finite_values_stay_strict_json(capsys: pytest.CaptureFixture[str]) -> None:
    Emitter().emit({"a": math.nan, "b": math.inf, "c": -math.inf, "d": Fraction(1, 4)})
    line = capsys.readouterr().out
    payload = json.loads(line.removeprefix("ANUBIS_METRICS "), parse_constant=lambda c: pytest.fail(c))
    assert payload == {"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": 0.25}
    VALIDATOR.validate({"timestamp": 1.0, "metrics": payload})


@pytest.mark.parametrize(
    ("metrics", "error", "message"),
    [
        ({"a": True}, TypeError, "must be a number"),
        ({"a": "1.0"}, TypeError, "must be a number"),
        ({"a": None}, TypeError, "must be a number"),
        ({"": 1.0}, ValueError, "must not be empty"),
        ({1: 1.0}, TypeError, "names must be strings"),
        ({"a": 10**400}, ValueError, "too large"),
        ([("a", 1.0)], TypeError, "mapping"),
    ],
)
def test_validation(metrics: object, error: type[Exception], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(error, match=message):
        client_lib.emit(metrics)  # type: ignore[arg-type]
    assert capsys.readouterr().out == ""


def test_empty_mapping_does_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    client_lib.emit({})
    assert capsys.readouterr().out == ""


def test_unknown_mode_warns_once_and_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCHMARK_AI", "kafka")
    emitter = Emitter()
    emitter.emit({"a": 1})
    emitter.emit({"a": 2})
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err.count("warning") == 1 and "kafka" in captured.err


def test_file_mode_appends_json_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"timestamp": 1.0, "metrics": {"old": 1}}\n')
    _fifo_env(monkeypatch, path)
    before = time.time()
    emitter = Emitter()
    emitter.emit({"loss": 0.5})
    emitter.emit({"loss": 0.25, "acc": 0.9})
    records = _records(path.read_bytes())
    assert [r["metrics"] for r in records] == [{"old": 1}, {"loss": 0.5}, {"loss": 0.25, "acc": 0.9}]
    assert all(before <= float(r["timestamp"]) <= time.time() for r in records[1:])  # type: ignore[arg-type]


def test_fifo_mode_without_path_warns_and_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCHMARK_AI", "fifo")
    Emitter().emit({"a": 1})
    captured = capsys.readouterr()
    assert captured.out == 'ANUBIS_METRICS {"a": 1}\n' and "BENCHMARK_AI_FIFO_FILEPATH" in captured.err


def _reader(path: Path, into: list[bytes], ready: threading.Event) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as f:  # blocks until the writer opens too
            ready.set()
            into.append(f.read())  # until the writer closes

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_fifo_with_a_reader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    _fifo_env(monkeypatch, path, wait="10")
    received: list[bytes] = []
    ready = threading.Event()
    thread = _reader(path, received, ready)
    emitter = Emitter()
    for i in range(100):
        emitter.emit({"step": i, "loss": 1 / (i + 1)})
    emitter.close()
    thread.join(10)
    assert [r["metrics"]["step"] for r in _records(received[0])] == list(range(100))  # type: ignore[index]
    assert capsys.readouterr().out == ""


def test_fifo_without_a_reader_falls_back_quickly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    _fifo_env(monkeypatch, path, wait="0.2")
    emitter = Emitter()
    emitter.emit({"a": 1})  # waits for a reader once, at most 0.2 s
    emitter.emit({"a": 2})  # does not wait again
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ['ANUBIS_METRICS {"a": 1}', 'ANUBIS_METRICS {"a": 2}']
    assert captured.err.count("warning") == 1 and "no reader" in captured.err


def test_fifo_reader_arriving_later_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    _fifo_env(monkeypatch, path, wait="0")
    emitter = Emitter()
    emitter.emit({"a": 1})  # nobody listens yet: stdout
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # the runner starts listening
    try:
        emitter.emit({"a": 2})
        data = os.read(fd, 4096)
    finally:
        emitter.close()
        os.close(fd)
    assert capsys.readouterr().out == 'ANUBIS_METRICS {"a": 1}\n'
    assert [r["metrics"] for r in _records(data)] == [{"a": 2}]


def test_fifo_reader_going_away_falls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    _fifo_env(monkeypatch, path, wait="0")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    emitter = Emitter()
    emitter.emit({"a": 1})
    assert _records(os.read(fd, 4096))[0]["metrics"] == {"a": 1}
    os.close(fd)  # the runner stops
    emitter.emit({"a": 2})
    captured = capsys.readouterr()
    assert captured.out == 'ANUBIS_METRICS {"a": 2}\n' and "warning" in captured.err


def test_fifo_full_pipe_does_not_block(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    _fifo_env(monkeypatch, path, wait="0.05")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
    emitter = Emitter()
    try:
        for i in range(5000):  # far more than a pipe holds
            emitter.emit({"step": i, "padding": 1.0})
    finally:
        emitter.close()
        os.close(fd)
    captured = capsys.readouterr()
    assert captured.out.count("ANUBIS_METRICS") > 0 and captured.err.count("stayed full") == 1


def test_concurrent_emits_write_whole_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    _fifo_env(monkeypatch, path)
    emitter = Emitter()
    names = [f"metric_{'x' * 50}_{i}" for i in range(8)]

    def work(thread: int) -> None:
        for i in range(200):
            emitter.emit({name: thread * 1000 + i for name in names})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = _records(path.read_bytes())
    assert len(records) == 8 * 200
    for record in records:
        values = set(record["metrics"].values())  # type: ignore[attr-defined]
        assert len(values) == 1


def test_concurrent_emits_to_stdout_write_whole_lines(capsys: pytest.CaptureFixture[str]) -> None:
    emitter = Emitter()

    def work() -> None:
        for i in range(300):
            emitter.emit({"a": i, "b": i})

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1800
    assert all(line.startswith("ANUBIS_METRICS {") and line.endswith("}") for line in lines)


def test_bad_wait_time_uses_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fifo_env(monkeypatch, tmp_path / "events.jsonl", wait="soon")
    Emitter().emit({"a": 1})  # a regular file: the wait time is not even needed
    assert (tmp_path / "events.jsonl").exists()
