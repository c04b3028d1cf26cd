"""controller/_linescan.c, the C scanner of the patterns ``L ( X{m,n} ) S``: which patterns it runs,
and that it gives the values and numbers that ``re`` and ``float()`` give (the Python path it stands
in for), on generated text and on the edges of number conversion."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.extraction import MetricExtractor
from controller.kubernetes import stamps
from controller.matching import LineMatcher, ascii_numbers, literal_positions, native_form
from schemas.runspec import MetricSpec

scanner = pytest.importorskip("controller._linescan", reason="the C scanner is not built (pip install -e .)")


@pytest.mark.parametrize(
    ("pattern", "form"),
    [
        (r"loss=([0-9.]+)", (b"loss=", 1, -1, b"")),
        (r", ([0-9.]+)it/s", (b", ", 1, -1, b"it/s")),
        (r"step (\d{1,8})", (b"step ", 1, 8, b"")),
        (r"x=([-+]?\d*)ms", None),  # two items in the group
        (r"a=(\d+)5", None),  # the suffix starts with a character of the run: backtracking could help
        (r"([0-9.]+)it/s", None),  # no literal before the group (not a linear form at all)
        (r"lr=([0-9.\r]+)", None),  # "\r" ends a line; the scanner reads bytes where it is still there
        (r"a\r=(\d+)", None),
    ],
)
def test_native_form(pattern: str, form: tuple[bytes, int, int, bytes] | None) -> None:
    found = native_form(pattern)
    if form is None:
        assert found is None
        assert not LineMatcher(pattern).native
        return
    assert found is not None
    assert (found.literal, found.low, found.high, found.suffix) == form
    assert LineMatcher(pattern).native and not LineMatcher(pattern, native=False).native


NATIVE_PATTERNS = [r"loss=([0-9.]+)", r"a=([-+0-9.eE]+)b", r"x:([0-9]{1,3})", r"a=([ \t0-9.e+-]*)", r"ab=(\w+)",
                   r"=([0-9.]{2,})x"]
NUMBERISH = "abx=:.-+eE0123456789 \t\n\r_"


def _reference(pattern: str, data: bytes) -> tuple[list[float], int]:
    """What the Python path gives: re's matches line by line, numbers as ascii_numbers reads them."""
    python = re.compile(pattern.encode())
    raw = [m.group(1) for line in data.replace(b"\r", b"\n").split(b"\n") for m in python.finditer(line)]
    numbers, refused = ascii_numbers(raw)
    return list(numbers), refused


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(NATIVE_PATTERNS), st.text(alphabet=NUMBERISH, max_size=120))
def test_the_scanner_gives_what_re_and_float_give(pattern: str, text: str) -> None:
    matcher = LineMatcher(pattern)
    assert matcher.native
    data = text.encode()
    numbers, refused = matcher.numbers(data)
    expected, expected_refused = _reference(pattern, data)
    assert _bits(numbers) == _bits(expected) and refused == expected_refused


def _bits(numbers: Iterable[float]) -> list[bytes]:
    return [struct.pack("<d", n) for n in numbers]  # -0.0 and 0.0 differ, as they do to float()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False).map(repr),
            st.integers(min_value=-(10**25), max_value=10**25).map(str),
            st.from_regex(r"[+-]?[0-9]{0,20}\.?[0-9]{0,20}([eE][+-]?[0-9]{1,4})?", fullmatch=True),
        ),
        max_size=20,
    )
)
def test_numbers_convert_exactly_as_float_does(values: list[str]) -> None:
    data = "".join(f"v={v};\n" for v in values).encode()
    numbers, refused = LineMatcher(r"v=([-+0-9.eE]+);").numbers(data)
    expected, expected_refused = _reference(r"v=([-+0-9.eE]+);", data)
    assert _bits(numbers) == _bits(expected) and refused == expected_refused


@pytest.mark.parametrize(
    ("value", "number"),
    [(b"0.1", 0.1), (b"-0.0", -0.0), (b".5", 0.5), (b"5.", 5.0), (b"  7\t", 7.0), (b"1e-400", 0.0),
     (b"123456789012345678901234567890", 1.2345678901234568e29), (b"0.30000000000000004", 0.30000000000000004),
     (b"9007199254740993", 9007199254740992.0), (b"1e22", 1e22), (b"1e23", 1e23), (b"+3", 3.0)],
)
def test_number_edges(value: bytes, number: float) -> None:
    numbers, refused = LineMatcher(r"v=([-+ \t0-9.eE]+);").numbers(b"v=" + value + b";")
    assert refused == 0 and _bits(numbers) == _bits([number]) == _bits([float(value)])


@pytest.mark.parametrize("value", [b".", b"-", b"e5", b"1e", b"1e999", b"1.2.3", b"--1", b"1 2", b""])
def test_what_is_not_a_number_is_refused(value: bytes) -> None:
    numbers, refused = LineMatcher(r"v=([-+ \t0-9.eE]*);").numbers(b"v=" + value + b";")
    assert list(numbers) == [] and refused == 1


def test_a_run_longer_than_the_bound_is_no_match_when_the_suffix_must_follow() -> None:
    # re: 'x:([0-9]{1,3})s' on 'x:1234s' fails (after 3 digits comes '4', not 's').
    matcher = LineMatcher(r"x:([0-9]{1,3})s")
    assert matcher.native
    assert list(matcher.numbers(b"x:1234s x:12s x:123s")[0]) == [12.0, 123.0]
    assert list(LineMatcher(r"x:([0-9]{1,3})").numbers(b"x:12345")[0]) == [123.0]


def test_a_match_never_spans_a_line_break() -> None:
    numbers, _ = LineMatcher(r"loss=([0-9.]+)").numbers(b"loss=1\r2 loss=\n3 loss=4.5\r\n")
    assert list(numbers) == [1.0, 4.5]


def test_literal_positions_do_not_overlap() -> None:
    assert literal_positions(b"aaaa xaaay aa", b"aa") == [0, 2, 6, 11]
    assert literal_positions(b"aaaa xaaay aa", b"aa", 1, 9) == [1, 6]


METRICS = (
    MetricSpec("loss", "", r"loss=([0-9.]+)", "lower"),
    MetricSpec("rate", "", r", ([0-9.]+)it/s", "higher"),
    MetricSpec("step", "", r"^step (\d+)$", "higher"),  # anchors: RE2, beside the scanner
    MetricSpec("t", "", r"t=([0-9.]+)", "higher"),  # also emitted: merged in log order
)
LOG_PIECES = ["loss=", "0.5", "1.25", ", ", "33.0it/s", "\r", "\n", "\r\n", "step 4", "t=2", "x", "\xff",
              'ANUBIS_METRICS {"t": 9.5, "e": 1}', "1e999", "..", " "]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(LOG_PIECES), max_size=60), st.lists(st.integers(min_value=0, max_value=400)))
def test_the_extractor_gives_the_same_with_and_without_the_scanner(pieces: list[str], cuts: list[int]) -> None:
    data = "".join(pieces).encode("utf-8", "surrogateescape")
    results = []
    for native in (True, False):
        extractor = MetricExtractor(METRICS, clock=lambda: 0.0, native=native)
        start = 0
        for cut in sorted(c for c in cuts if c < len(data)):
            extractor.feed(data[start:cut])
            start = cut
        extractor.feed(data[start:])
        extractor.close()
        results.append((extractor.results(), extractor.skipped))
    assert results[0] == results[1]


def test_the_scanner_runs_the_bench_patterns() -> None:
    assert all(LineMatcher(p).native for p in (r"loss=([0-9.]+)", r", ([0-9.]+)it/s", r"val_accuracy: ([0-9.]+)"))


STAMP_PIECES = ["\n", "2024-05-01T12:00:00", ".", "123", "123456789", "0", "Z", " ", "Z ", "x", "2024-5-01T", "\r",
                "2024-05-01T12:00:00.123456789Z ", "2024-05-01T12:00:00Z ", "2024-05-01T12:00:00.1234567890Z "]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(STAMP_PIECES), max_size=30))
def test_unstamp_takes_off_what_the_regex_takes_off(pieces: list[str]) -> None:
    data = "".join(pieces).encode()
    assert stamps.unstamp is not stamps._python_unstamp  # the C one runs
    assert stamps.unstamp(data) == stamps._python_unstamp(data)


def test_unstamp_examples() -> None:
    data = b"a\n2024-05-01T12:00:00.5Z b\n2024-05-01T12:00:00Z c\n2024-05-01T12:00:00.1234567890Z d\nZ e"
    assert stamps.unstamp(data) == b"a\nb\nc\n2024-05-01T12:00:00.1234567890Z d\nZ e"


SAMPLE = r"""
from controller.extraction import MetricExtractor
from controller.kubernetes import stamps
from schemas.runspec import MetricSpec


def sample_results():
    # What the extractor and StampedText make of a sample log.
    metrics = (MetricSpec("loss", "", r"loss=([0-9.e]+)", "lower"), MetricSpec("rate", "", r", ([0-9.]+)it/s", "higher"),
               MetricSpec("step", "", r"^step (\d+)", "higher"), MetricSpec("t", "", r"t=([0-9.]+)", "higher"))
    lines = [f"2024-05-01T12:00:{i % 60:02d}.{i:06d}Z step {i}, {i}.5it/s, loss={i / 7:.6f}\r t=1\n" for i in range(300)]
    lines[7] = '2024-05-01T12:00:07Z ANUBIS_METRICS {"t": 3, "loss": 0.5}\n'
    data = "".join(lines).encode() + b"\xff loss=1e999 loss=.\n"
    reader = stamps.StampedText()
    extractor = MetricExtractor(metrics, clock=lambda: 0.0)
    for start in range(0, len(data), 1000):
        for _, text in reader.feed(data[start : start + 1000]):
            extractor.feed(text)
    for _, text in reader.close():
        extractor.feed(text)
    extractor.close()
    return extractor.results(), extractor.skipped
"""

WITHOUT_THE_SCANNER = """
import sys
sys.modules["controller._linescan"] = None  # as on a machine where it was not built: import fails
from controller.kubernetes import stamps
from controller.matching import LineMatcher, literal_positions

assert stamps.unstamp is stamps._python_unstamp and not LineMatcher(r"loss=([0-9.]+)").native
""" + SAMPLE + """
print(repr(sample_results()))
print(repr(literal_positions(b"aaaa xaaay aa", b"aa")))
"""


def test_without_the_scanner_the_results_are_the_same() -> None:
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", WITHOUT_THE_SCANNER], cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    results, positions = done.stdout.splitlines()
    here: dict[str, Any] = {}
    exec(SAMPLE, here)  # the same code, with the scanner
    expected = here["sample_results"]()
    assert expected[0]["loss"].values and expected[1] == 2  # the sample has values and refusals to compare
    assert results == repr(expected)
    assert positions == repr([0, 2, 6, 11])
