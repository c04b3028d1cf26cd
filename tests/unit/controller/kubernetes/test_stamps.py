"""controller/kubernetes/stamps.py and the controller's extraction feed (recording.py): a stamped log
gives the values a local run's output gives, long lines without a line break included."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.extraction import MetricExtractor
from controller.kubernetes.observed import PodState
from controller.kubernetes.recording import RunRecorder
from controller.kubernetes.stamps import RESOLUTION, StampedText, iter_log_lines
from schemas.runspec import MetricSpec

METRICS = (
    MetricSpec("loss", "", r"loss=([0-9.]+)", "lower"),
    MetricSpec("throughput", "it/s", r"([0-9.]+)it/s", "higher"),
    MetricSpec("accuracy", "%", r"accuracy: ([0-9.]+)", "higher"),
)
T0 = 1_700_000_000.0


def stamp(t: float) -> bytes:
    """The kubelet's RFC 3339 with nanoseconds, as ``timestamps=true`` writes it."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z").encode()


def stamped(lines: list[bytes], step: float = 0.25) -> bytes:
    return b"".join(stamp(T0 + i * step) + b" " + line + b"\n" for i, line in enumerate(lines))


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def tqdm_line(bars: int) -> bytes:
    """One log line of ``bars`` redraws of a progress bar (``\\r``, no ``\\n``): megabytes long."""
    return b"".join(b"\rEpoch 1: %3d%%|#####| %d/%d [00:01<00:01, %d.5it/s, loss=0.%04d]" % (i % 100, i, bars, i % 50, i)
                    for i in range(bars))


OUTPUT_LINES = [b"starting", b"accuracy: 0.5 loss=1.5", tqdm_line(60_000), b"epoch 0 accuracy: 0.75", tqdm_line(300),
                b"final accuracy: 0.875 loss=0.125"]


def local_values(output: bytes, chunk: int) -> dict[str, list[float]]:
    extractor = MetricExtractor(METRICS, clock=lambda: 0.0)
    for piece in chunks_of(output, chunk):
        extractor.feed(piece)
    extractor.close()
    return {name: list(m.values) for name, m in extractor.results().items()}


class LogClient:
    """The one call of KubeClient the recorder's extraction makes: ``read_log`` answers the log as
    ``KubeClient.read_log`` does, in the 64 KiB pieces of ``response.stream(65536)``; any other call fails."""

    def __init__(self, logs: dict[tuple[str, str], bytes], chunk: int = 65536) -> None:
        self.logs = logs
        self.chunk = chunk

    def read_log(self, namespace: str, pod: str, container: str, *, timestamps: bool = True) -> Iterator[bytes]:
        assert timestamps
        return chunks_of(self.logs[(pod, container)], self.chunk)


def controller_values(logs: dict[tuple[str, str], bytes], chunk: int = 65536) -> dict[str, Any]:
    recorder = RunRecorder(LogClient(logs, chunk), store=None, exporters=(), metrics=None,  # type: ignore[arg-type]
                           clock=lambda: 0.0)
    line_time = [0.0]
    extractor = MetricExtractor(METRICS, clock=lambda: line_time[0])
    for pod, container in logs:
        recorder._extract(extractor, line_time, "ns", PodState(name=pod, uid="u", phase="Succeeded", owner_uid="o", role="main", node_name="n"), container)
    extractor.close()
    return extractor.results()


@pytest.mark.parametrize("chunk", [65536, 4099, 1 << 20])
def test_long_lines_give_the_same_values_locally_and_through_the_controller(chunk: int) -> None:
    output = b"\n".join(OUTPUT_LINES)  # the last line has no line break
    expected = local_values(output, 1 << 16)
    assert len(expected["loss"]) == 60_000 + 300 + 2 and expected["accuracy"] == [0.5, 0.75, 0.875]
    results = controller_values({("pod-0", "benchmark"): stamped(OUTPUT_LINES)[:-1]}, chunk)
    assert {name: list(m.values) for name, m in results.items()} == expected


def test_two_sources_do_not_join_their_unfinished_last_lines() -> None:
    logs = {("launcher", "benchmark"): stamped([b"accuracy: 0.5"])[:-1], ("worker-0", "benchmark"): stamped([b"7it/s"])}
    results = controller_values(logs)
    assert list(results["accuracy"].values) == [0.5] and list(results["throughput"].values) == [7.0]


def test_each_value_gets_its_lines_time_within_the_resolution() -> None:
    lines = [b"loss=%d" % i for i in range(400)]
    results = controller_values({("p", "benchmark"): stamped(lines, step=0.1)}, chunk=4096)
    loss = results["loss"]
    assert list(loss.values) == [float(i) for i in range(400)]
    for i, at in enumerate(loss.times):
        assert T0 + i * 0.1 - 1e-3 <= at <= T0 + i * 0.1 + RESOLUTION + 1e-3


def test_sparse_lines_each_keep_their_own_time() -> None:
    lines = [b"loss=%d" % i for i in range(5)]
    results = controller_values({("p", "benchmark"): stamped(lines, step=60.0)})
    assert list(results["loss"].times) == pytest.approx([T0 + 60.0 * i for i in range(5)])


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=10),
    ends=st.booleans(),
)
def test_stamped_text_is_the_text_without_stamps_however_it_is_cut(lines: list[bytes], cuts: list[int],
                                                                   ends: bool) -> None:
    log = stamped(lines) if ends else stamped(lines)[:-1]
    points = sorted({min(c, len(log)) for c in cuts})
    reader = StampedText()
    pieces = [p for a, b in itertools.pairwise([0, *points, len(log)]) for p in reader.feed(log[a:b])]
    pieces += reader.close()
    assert b"".join(text for _, text in pieces) == b"\n".join(lines) + (b"\n" if ends else b"")
    assert reader.time == pytest.approx(T0 + 0.25 * (len(lines) - 1))


def test_iter_log_lines_cuts_long_lines_and_keeps_stamps() -> None:
    log = stamped([b"short", b"x" * 10_000, b"end"])[:-1]
    for size in (1, 100):  # (a line that ends within a chunk comes out whole, up to max_line + chunk)
        lines = list(iter_log_lines(chunks_of(log, size), max_line=4096))
        head = len(stamp(T0)) + 1  # the stamp and its space, taken off the first piece only
        assert [len(text) for _, text in lines] == [5, 4096 - head, 4096, head + 10_000 - 2 * 4096, 3]
        assert lines[0] == (T0, b"short") and lines[-1] == (T0 + 0.5, b"end")
        assert lines[1][0] == T0 + 0.25 and lines[2][0] is None  # the pieces after the first carry no stamp


class CountingExtractor(MetricExtractor):
    feeds = 0

    def feed(self, chunk: bytes, at: float | None = None) -> None:
        self.feeds += 1
        super().feed(chunk, at)


def test_the_controller_feeds_chunks_as_the_local_runner_does_not_lines() -> None:
    lines = [b"step %d loss=0.%d" % (i, i) for i in range(20_000)]
    log = stamped(lines, step=0.001)
    client = LogClient({("p", "benchmark"): log})
    recorder = RunRecorder(client, store=None, exporters=(), metrics=None, clock=lambda: 0.0)  # type: ignore[arg-type]
    extractor = CountingExtractor(METRICS, clock=lambda: 0.0)
    recorder._extract(extractor, [0.0], "ns", PodState(name="p", uid="u", phase="Succeeded", owner_uid="o",
                                                       role="main", node_name="n"), "benchmark")
    extractor.close()
    chunks = -(-len(log) // 65536)
    assert len(extractor.results()["loss"].values) == 20_000
    assert extractor.feeds <= 4 * chunks  # a few pieces per chunk (one per second of log), never one per line
