from __future__ import annotations

import itertools
import json
import math
import statistics
import tracemalloc

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import client_lib
from controller import events
from controller.extraction import MAX_LINE, MAX_VALUES, MetricExtractor, parse_event_line, parse_event_record
from schemas.loading import load_schema
from schemas.results import ResultRecord
from schemas.runspec import MetricSpec

LOSS = MetricSpec("loss", "", r"loss=([0-9.]+)", "lower")
THROUGHPUT = MetricSpec("throughput", "it/s", r"([0-9.]+)it/s", "higher")
ACCURACY = MetricSpec("accuracy", "%", r"accuracy:\s*([0-9.]+)", "higher")
METRICS = (LOSS, THROUGHPUT, ACCURACY)

SAMPLE_LOG = (
    b"Starting training \xe2\x9c\x93\n"
    b"Epoch 0:  50%|#####     | 1/2 [00:01<00:01, 3.50it/s, loss=0.91]\r"
    b"Epoch 0: 100%|##########| 2/2 [00:02<00:00, 4.25it/s, loss=0.52]\r\n"
    b"epoch 0 accuracy: 0.81\n"
    b'ANUBIS_METRICS {"epoch_time": 12.5, "accuracy": 0.82}\n'
    b"noise \xff\xfe not utf-8 loss=0.40 loss=0.30\n"
    b"accuracy:\n0.99\n"  # a match may not span two lines
    b"final accuracy: 0.85"  # no line break at the end
)
EXPECTED = {
    "loss": [0.91, 0.52, 0.40, 0.30],
    "throughput": [3.5, 4.25],
    "accuracy": [0.81, 0.82, 0.85],
    "epoch_time": [12.5],
}


def _values(extractor: MetricExtractor) -> dict[str, list[float]]:
    return {name: list(m.values) for name, m in extractor.results().items()}


def _extract(chunks: list[bytes], metrics: tuple[MetricSpec, ...] = METRICS) -> MetricExtractor:
    extractor = MetricExtractor(metrics, clock=lambda: 100.0)
    for chunk in chunks:
        extractor.feed(chunk)
    extractor.close()
    return extractor


def test_sample_log_in_one_chunk() -> None:
    extractor = _extract([SAMPLE_LOG])
    assert _values(extractor) == EXPECTED
    results = extractor.results()
    assert list(results) == ["loss", "throughput", "accuracy", "epoch_time"]
    assert results["throughput"].unit == "it/s" and results["loss"].direction == "lower"
    assert results["epoch_time"].unit == "" and results["epoch_time"].direction == "higher"
    assert results["loss"].times == (100.0,) * 4


@pytest.mark.parametrize("cut", range(1, len(SAMPLE_LOG)))
def test_split_at_every_byte(cut: int) -> None:
    assert _values(_extract([SAMPLE_LOG[:cut], SAMPLE_LOG[cut:]])) == EXPECTED


def test_byte_by_byte() -> None:
    assert _values(_extract([SAMPLE_LOG[i : i + 1] for i in range(len(SAMPLE_LOG))])) == EXPECTED


def test_declared_metric_without_values_is_reported() -> None:
    extractor = _extract([b"nothing here\n"], (LOSS, MetricSpec("events_only", "s", None, "lower")))
    results = extractor.results()
    assert set(results) == {"loss", "events_only"}
    assert results["loss"].values == () and results["events_only"].unit == "s"


def test_times_are_feed_times() -> None:
    now = iter([1.0, 2.0, 3.0, 4.0])
    extractor = MetricExtractor([LOSS], clock=lambda: next(now))
    extractor.feed(b"loss=1\nloss=")  # the second line completes in the second feed
    extractor.feed(b"2\n")
    extractor.feed(b"loss=3")
    extractor.close()  # the unfinished last line is read at close
    result = extractor.results()["loss"]
    assert result.values == (1.0, 2.0, 3.0)
    assert result.times == (1.0, 2.0, 4.0)


def test_carriage_return_progress_bar() -> None:
    bar = b"".join(b"\r%3d%%|###| %d/100 [00:01<00:02, %d.5it/s, loss=0.%d]" % (i, i, i, i) for i in range(1, 10))
    extractor = _extract([bar])
    assert _values(extractor)["throughput"] == [i + 0.5 for i in range(1, 10)]
    assert len(_values(extractor)["loss"]) == 9


def test_invalid_utf8_and_control_bytes() -> None:
    log = b"\x00\xff\xc3loss=1.5\xed\xa0\x80 loss=\xe2\x82 loss=2\n\x1b[31mloss=3\x1b[0m\n"
    assert _values(_extract([log]))["loss"] == [1.5, 2.0, 3.0]


def test_unparseable_values_are_skipped_and_counted() -> None:
    extractor = _extract([b"loss=1.2.3 loss=. loss=4\n"])
    assert _values(extractor)["loss"] == [4.0]
    assert extractor.skipped == 2


def test_every_match_on_a_line_counts() -> None:
    assert _values(_extract([b"loss=1 loss=2 loss=3\n"]))["loss"] == [1.0, 2.0, 3.0]


def test_pattern_without_group_uses_the_whole_match() -> None:
    extractor = _extract([b"x 12.5 y\n"], (MetricSpec("n", "", r"\d+\.\d+", "higher"),))
    assert _values(extractor)["n"] == [12.5]


def test_anchors_are_line_anchors() -> None:
    spec = MetricSpec("step", "", r"^step (\d+)$", "higher")
    assert _values(_extract([b"step 1\nno step 2\r step 3\nstep 4"], (spec,)))["step"] == [1.0, 4.0]


def test_a_match_may_not_span_lines() -> None:
    specs = (
        MetricSpec("a", "", r"a\s+(\d+)", "higher"),
        MetricSpec("b", "", r"b[^x]*?(\d+)", "higher"),
        MetricSpec("c", "", r"(?s)c.(\d+)", "higher"),
    )
    log = b"a\n1 a 2\nb\n3 b 4\nc\n5 c 6\n" + b"noise line\n" * 2000  # dense and sparse literal paths
    assert _values(_extract([log], specs)) == {"a": [2.0], "b": [4.0], "c": [6.0]}
    for cut in range(1, 40):
        assert _values(_extract([log[:cut], log[cut:]], specs)) == {"a": [2.0], "b": [4.0], "c": [6.0]}


def test_huge_line_is_read_in_windows_without_growing() -> None:
    extractor = MetricExtractor([LOSS], clock=lambda: 0.0)
    extractor.feed(b"loss=1 ")
    filler = b"x" * 65536
    for _ in range(5 * MAX_LINE // len(filler)):
        extractor.feed(filler)
        assert len(extractor._partial) <= MAX_LINE
    extractor.feed(b" loss=2\nloss=3\n")
    extractor.close()
    assert _values(extractor)["loss"] == [1.0, 2.0, 3.0]


def test_huge_line_windows_do_not_depend_on_chunking() -> None:
    log = (b"loss=7 " + b"y" * (MAX_LINE - 10) + b"loss=123456 " + b"z" * (MAX_LINE + 5) + b"\nloss=9\n") * 2
    whole = _values(_extract([log], (LOSS,)))
    assert whole["loss"][0] == 7.0 and whole["loss"][-1] == 9.0
    for size in (1000, 65536, MAX_LINE - 1, MAX_LINE + 1, 3 * MAX_LINE):
        chunks = [log[i : i + size] for i in range(0, len(log), size)]
        assert _values(_extract(chunks, (LOSS,))) == whole


def test_events_in_the_stream() -> None:
    log = (
        b'ANUBIS_METRICS {"a": 1, "b": 2.5}\n'
        b'[1,0]<stdout>:ANUBIS_METRICS {"a": 2}\x1b[0m\n'  # a prefix, and trailing bytes
        b'ANUBIS_METRICS {"a": "NaN", "b": "-Infinity", "c": Infinity}\n'
        b'ANUBIS_METRICS {"a": true, "": 3, "d": "x", "e": [1]}\n'  # nothing valid
        b"ANUBIS_METRICS not json\n"
        b'ANUBIS_METRICS {"a": 5'
    )
    values = _values(_extract([log], ()))
    assert values["a"][:2] == [1.0, 2.0] and math.isnan(values["a"][2])
    assert values["b"] == [2.5, -math.inf]
    assert values["c"] == [math.inf]
    assert "d" not in values and "e" not in values


def test_events_and_pattern_for_one_metric_keep_log_order() -> None:
    spec = MetricSpec("loss", "", r"loss=(\d+)", "lower")
    log = b'loss=1\nANUBIS_METRICS {"loss": 2}\nloss=3\n'
    assert _values(_extract([log], (spec,)))["loss"] == [1.0, 2.0, 3.0]
    for cut in range(1, len(log)):
        assert _values(_extract([log[:cut], log[cut:]], (spec,)))["loss"] == [1.0, 2.0, 3.0]


def test_add_event_and_add_record() -> None:
    extractor = MetricExtractor([LOSS], clock=lambda: 50.0)
    extractor.add_event({"loss": 0.5, "new": 3})
    extractor.add_event({"loss": 0.25}, at=60.0)
    assert extractor.add_record(b'{"timestamp": 70.0, "metrics": {"loss": 0.125}}\n')
    assert not extractor.add_record(b"garbage\n")
    results = extractor.results()
    assert results["loss"].values == (0.5, 0.25, 0.125)
    assert results["loss"].times == (50.0, 60.0, 70.0)
    assert (results["new"].unit, results["new"].direction, results["new"].values) == ("", "higher", (3.0,))


def test_feed_after_close_is_an_error() -> None:
    extractor = _extract([b"loss=1"])
    extractor.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        extractor.feed(b"loss=2\n")


def test_bad_declarations() -> None:
    with pytest.raises(ValueError, match="metric 'x' cannot be used: RE2 cannot compile it"):
        MetricExtractor([MetricSpec("x", "", "(unclosed", "higher")])
    with pytest.raises(ValueError, match="declared twice"):
        MetricExtractor([LOSS, LOSS])


def test_extractors_share_each_pattern_matcher() -> None:
    """A matcher is built once per pattern (the cluster controller makes an extractor per report):
    two extractors of the same metrics use the same one, with the same values; a pattern that
    cannot be used is refused every time, not once."""
    first, second = MetricExtractor(METRICS, clock=lambda: 1.0), MetricExtractor(METRICS, clock=lambda: 1.0)
    for spec in METRICS:
        assert first._metrics[spec.name].matcher is second._metrics[spec.name].matcher
    assert MetricExtractor(METRICS, native=False)._metrics["loss"].matcher is not first._metrics["loss"].matcher
    for extractor in (first, second):
        extractor.feed(SAMPLE_LOG)
        extractor.close()
    assert first.results() == second.results()
    assert first.results()["loss"].values == (0.91, 0.52, 0.4, 0.3)
    for _ in range(2):
        with pytest.raises(ValueError, match="cannot be used"):
            MetricExtractor([MetricSpec("x", "", "(unclosed", "higher")])


def test_parse_event_line() -> None:
    assert parse_event_line(b'ANUBIS_METRICS {"x": 1}\n') == {"x": 1.0}
    assert parse_event_line(b"\xff\xfe ANUBIS_METRICS {\"x\": 1e400}") == {"x": math.inf}
    assert parse_event_line(b"plain line") is None
    assert parse_event_line(b"ANUBIS_METRICS {}") is None
    assert parse_event_line(b"ANUBIS_METRICS " + b"[" * 100_000) is None
    assert parse_event_line(b"ANUBIS_METRICS {" + b'"a":' * 50_000) is None


def test_parse_event_record() -> None:
    assert parse_event_record(b'{"timestamp": 1.5, "metrics": {"x": 2}}') == (1.5, {"x": 2.0})
    assert parse_event_record(b'{"timestamp": "NaN", "metrics": {"x": 2}}') is None
    assert parse_event_record(b'{"timestamp": 1.5}') is None
    assert parse_event_record(b"[1, 2]") is None
    assert parse_event_record(b"\xff") is None


def test_client_lib_writes_what_the_controller_reads(capsys: pytest.CaptureFixture[str]) -> None:
    assert client_lib.MARKER == events.EVENT_MARKER
    emitter = client_lib.Emitter()
    emitter.emit({"acc": 0.5, "n": 3, "bad": math.nan})
    line = capsys.readouterr().out.encode()
    values = parse_event_line(line)
    assert values is not None and values["acc"] == 0.5 and values["n"] == 3.0 and math.isnan(values["bad"])
    assert json.loads(line.split(b" ", 1)[1])["bad"] == "NaN"


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=600)
    | st.lists(
        st.sampled_from(
            [b"loss=", b"0.5", b"1", b"\n", b"\r", b"it/s", b"accuracy: ", b" ", b"\xff", b"\xe2\x82",
             b'ANUBIS_METRICS {"loss": 1, "z": 2}', b"abc"]
        ),
        max_size=60,
    ).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12),
)
def test_any_chunking_gives_the_same_result(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]
    whole = _extract([data])
    pieces = _extract(chunks)
    assert _values(pieces) == _values(whole)
    assert pieces.skipped == whole.skipped


@pytest.mark.slow
def test_memory_stays_flat_over_a_1gb_log() -> None:
    noise = b"".join(
        b"INFO step %d: waiting for data loader worker %d; shapes (32, 3, 224, 224)\n" % (i, i % 8)
        for i in range(12_000)
    )
    block = noise + b"epoch accuracy: 0.9 loss=0.1\n" + b"Epoch 1: 50%|#####| 5/10 [00:01<00:01, 9.5it/s]\r" * 20
    total = 1 << 30
    extractor = MetricExtractor(METRICS, clock=lambda: 0.0)
    tracemalloc.start()
    try:
        fed = 0
        while fed < total:
            extractor.feed(block[: total - fed])
            fed += len(block)
        extractor.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    results = extractor.results()
    blocks = total // len(block)  # the last, cut short, has no metric line
    assert len(results["accuracy"].values) == blocks
    assert len(results["throughput"].values) == 20 * blocks
    assert peak < 16 * MAX_LINE + 8 * len(block), f"peak traced memory {peak} bytes"


# -- values are ASCII numbers; a cap on stored values ------------------------------------------------


def test_only_ascii_numbers_are_values() -> None:
    spec = MetricSpec("v", "", r"v=(\S+)", "higher")
    log = "v=1_000 v=١٢ v=12 v=nan v=inf v=1e999 v=+3.5e-2 v=٣ v=-.5 v=7. v=1,5 v=０\n".encode()
    extractor = _extract([log], (spec,))
    assert _values(extractor)["v"] == [12.0, 0.035, -0.5, 7.0]
    assert extractor.skipped == 8


def test_unicode_digits_are_not_digits_to_a_pattern() -> None:
    extractor = _extract(["loss=٣.٥ loss=0.25\n".encode()], (MetricSpec("loss", "", r"loss=(\d+\.\d+)", "lower"),))
    assert _values(extractor)["loss"] == [0.25]
    assert extractor.skipped == 0  # not even a match


def test_stored_values_are_capped_and_the_summary_covers_them_all() -> None:
    extractor = MetricExtractor([LOSS], clock=lambda: 5.0, max_values=10)
    numbers = [float(i % 97) / 4 for i in range(1000)]
    extractor.feed(b"".join(b"loss=%r\n" % v for v in numbers[:500]))
    extractor.add_event({"loss": math.nan})  # not finite: counted in no statistic
    extractor.feed(b"".join(b"loss=%r\n" % v for v in numbers[500:]))
    extractor.close()
    result = extractor.results()["loss"]
    assert result.values == tuple(numbers[:10]) and result.times == (5.0,) * 10
    assert result.values_dropped == 991
    summary = result.summary()
    assert summary is not None
    assert summary.n == 1000 and summary.last == numbers[-1]
    assert summary.min == min(numbers) and summary.max == max(numbers)
    assert summary.mean == pytest.approx(statistics.fmean(numbers), rel=1e-12)
    assert summary.stdev == pytest.approx(statistics.stdev(numbers), rel=1e-9)
    assert summary.median == statistics.median(numbers[:10])  # the stored values'


def test_a_capped_metric_round_trips_through_the_record_and_its_schema() -> None:
    extractor = MetricExtractor([LOSS], clock=lambda: 5.0, max_values=3)
    extractor.feed(b"loss=1 loss=2 loss=3 loss=4 loss=10\n")
    extractor.close()
    result = extractor.results()["loss"]
    raw = result.to_dict()
    assert raw["values"] == [1.0, 2.0, 3.0] and raw["values_dropped"] == 2
    assert (raw["n"], raw["mean"], raw["max"], raw["last"]) == (5, 4.0, 10.0, 10.0)
    validator = jsonschema.Draft202012Validator(load_schema("result"))
    validator.evolve(schema=_metric_schema(validator)).validate({"metrics": {"loss": raw}})
    record = ResultRecord.from_dict(_record_dict({"loss": raw}))
    assert record.metrics["loss"].summary() == result.summary()
    assert record.metrics["loss"].values_dropped == 2


def _metric_schema(validator: jsonschema.Draft202012Validator) -> dict[str, object]:
    return {"$defs": validator.schema["$defs"], "type": "object",
            "properties": {"metrics": {"additionalProperties": {"$ref": "#/$defs/metric"}}}}


def _record_dict(metrics: dict[str, object]) -> dict[str, object]:
    return {"execution_id": "e", "run_id": "r", "family_id": "f", "benchmark": "b", "environment": "local",
            "backend": "local", "status": "SUCCEEDED", "reason": "", "started_at": 1.0, "finished_at": 2.0,
            "metrics": metrics, "reproducibility": {"descriptor_hash": "h", "image": "i"}}


def test_megabytes_without_a_line_break_store_a_bounded_record() -> None:
    # The case was 50 MB of one line: 6.5 M values stored. 6 MB shows the same cap.
    extractor = MetricExtractor([MetricSpec("v", "", r"v=([0-9.]+)", "higher")], clock=lambda: 0.0)
    piece = b"v=1.5 v=2.5 " * 87_382  # about 1 MiB, 174,764 values
    for _ in range(6):
        extractor.feed(piece)
    extractor.close()
    result = extractor.results()["v"]
    found = 6 * 174_764 - 6  # a value cut at each window's edge (every MAX_LINE bytes) is lost
    assert len(result.values) == MAX_VALUES and len(result.times) == MAX_VALUES
    assert result.values_dropped + MAX_VALUES == pytest.approx(found, abs=12)
    summary = result.summary()
    assert summary is not None and summary.n == result.values_dropped + MAX_VALUES
    assert summary.mean == pytest.approx(2.0, abs=1e-3) and summary.max == 2.5  # min: "1." cut from "1.5"
