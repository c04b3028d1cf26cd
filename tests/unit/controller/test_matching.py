"""controller/matching.py: every metric pattern runs in linear time; the shapes run by ``re`` give
RE2's matches; the repository's and the original project's patterns still find their values."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.matching import LineMatcher, linear_form, required_literal

ROOT = Path(__file__).resolve().parents[3]

REDOS_SCRIPT = r"""
import sys
from controller.extraction import MetricExtractor
from schemas.runspec import MetricSpec

extractor = MetricExtractor([MetricSpec("n", "", r"^(\d+)+!", "higher")], clock=lambda: 0.0)
extractor.feed(b"1" * 40 + b"\n5!\n" + b"7" * 5000 + b"\n" + b"9" * 100_000 + b"!\n")
extractor.close()
print(list(extractor.results()["n"].values), extractor.skipped)
"""


def test_catastrophic_backtracking_pattern_finishes_with_the_right_values() -> None:
    # On Python's re, '^(\d+)+!' over a line of 40 digits without '!' takes longer than the age of the
    # universe and cannot be interrupted; on RE2 it is linear. A subprocess, so that a hang fails
    # the test through the timeout instead of freezing the suite.
    done = subprocess.run([sys.executable, "-c", REDOS_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # 100,000 nines are a match, but no finite number: skipped
    assert done.stdout.split() == ["[5.0]", "1"]


def test_a_pattern_quadratic_on_re_is_not_run_by_re() -> None:
    # '([0-9.]+)it/s' retries from every digit of a run that 'it/s' does not follow: O(n**2) on re.
    assert linear_form(r"([0-9.]+)it/s") is None
    assert LineMatcher(r"([0-9.]+)it/s").engine == "re2"
    assert LineMatcher(r"^(\d+)+!").engine == "re2"


@pytest.mark.parametrize(
    "pattern",
    [r"loss=([0-9.]+)", r", ([0-9.]+)it/s", r"val_accuracy: ([0-9.]+)", r"x=([-+]?\d+)ms", r"step (\d{1,8})",
     r"id=(\w+)"],
)
def test_linear_shapes_run_on_re(pattern: str) -> None:
    assert LineMatcher(pattern).engine == "re"


@pytest.mark.parametrize(
    "pattern",
    [
        r"1([0-9.]+)",  # every character of the literal can be in the run: runs after it overlap
        r"loss=(\d+\.\d+)",  # two repeats
        r"loss=([^ ]+)",  # negated class: line breaks and non-ASCII
        r"loss=(\s*\d+)",  # \s holds the line break
        r"(?i)loss=(\d+)",
        r"loss=(.+)",
        r"loss=(\d+?)x",  # lazy
        r"loss=(\d+)|acc=(\d+)",
        r"(\d+)",  # no literal before the group
        r"lössß=(\d+)",  # not ASCII
        r"loss=((\d+))",
    ],
)
def test_other_shapes_run_on_re2(pattern: str) -> None:
    assert linear_form(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [(r"loss=([0-9.]+)", b"loss="), (r"([0-9.]+)it/s", b"it/s"), (r"(?i)loss=(\d+)", None),
     (r"(?:speed|rate): (\d+)", b": "), (r"x.y", b"x"), (r"ü=(\d)", "ü=".encode())],
)
def test_required_literal(pattern: str, literal: bytes | None) -> None:
    assert required_literal(pattern) == literal


LINEAR_PATTERNS = [r"loss=([0-9.]+)", r"a=([-+]?[0-9.]+)b", r"x:([0-9]{1,3})", r"a=([0-9]+)", r"ab=(\w+)b"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(LINEAR_PATTERNS), st.text(alphabet="abx=:.-+0123456789 \n", max_size=80))
def test_re_and_re2_agree_on_the_linear_shapes(pattern: str, text: str) -> None:
    matcher = LineMatcher(pattern)
    assert matcher.engine == "re"
    data = text.encode()
    assert matcher.values(data) == [value for _, value in matcher.positioned(data)]  # re vs RE2


def _descriptor_patterns() -> list[tuple[str, str]]:
    files = sorted((ROOT / "benchmarks").glob("*/descriptor.toml"))
    files += sorted((ROOT / "tests/unit/renderer/compat").glob("*.toml"))  # the original project's shapes
    found: list[tuple[str, str]] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    found.append((where, value))
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for path in files:
        walk(tomllib.loads(path.read_text()), str(path.relative_to(ROOT)))
    return found


DESCRIPTOR_PATTERNS = _descriptor_patterns()


def test_the_repository_has_patterns_to_check() -> None:
    assert len(DESCRIPTOR_PATTERNS) >= 15


ASCII_LINE = st.characters(min_codepoint=32, max_codepoint=126)


@pytest.mark.parametrize(("where", "pattern"), DESCRIPTOR_PATTERNS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_repository_and_original_patterns_find_what_re_finds(where: str, pattern: str, data: st.DataObject) -> None:
    matcher = LineMatcher(pattern)
    lines = [data.draw(st.from_regex(pattern, fullmatch=True, alphabet=ASCII_LINE)) for _ in range(2)]
    lines += [data.draw(st.text(alphabet=ASCII_LINE, max_size=20)) + lines[0], "nothing here"]
    text = "\n".join(lines).encode()
    python = re.compile(pattern.encode())  # bytes: ASCII classes, as RE2 reads them
    expected = [m.group(1 if python.groups else 0) for line in lines for m in python.finditer(line.encode())]
    assert expected, where  # the drawn lines match
    assert matcher.values(text) == expected, where


@pytest.mark.parametrize("pattern", [r"loss=([0-9.]+)", r"^step (\d+)$", r"lr[:=]\s*([0-9.e-]+)"])
def test_rare_literal_lines_give_what_the_whole_text_gives(pattern: str) -> None:
    lines = [b"noise %d with nothing in it" % i for i in range(3000)]
    lines[10] = b"loss=0.5 step 3 lr: 1e-3 loss=0.25"
    lines[2000] = b"step 7"
    lines[2999] = b"loss=1.5 lr=2"
    text = b"\n".join(lines)
    matcher = LineMatcher(pattern)
    assert matcher.literal is not None and text.count(matcher.literal) * 512 < len(text)  # the sparse path
    python = re.compile(pattern.encode())
    expected = [m.group(1) for line in lines for m in python.finditer(line)]
    assert expected and matcher.values(text) == expected
    assert [value for _, value in matcher.positioned(text)] == expected


@pytest.mark.parametrize("pattern", [r"loss=([0-9.]+)", r"^step (\d+) loss"])
def test_a_literal_rare_at_first_then_dense_gives_every_value(pattern: str) -> None:
    lines = [b"noise line %d" % i for i in range(8000)] + [b"step %d loss=%d.5" % (i, i) for i in range(5000)]
    lines[3] = b"step 1 loss=0.125"
    text = b"\n".join(lines)
    matcher = LineMatcher(pattern)
    python = re.compile(pattern.encode())
    expected = [m.group(1) for line in lines for m in python.finditer(line)]
    assert len(expected) == 5001 and matcher.values(text) == expected
