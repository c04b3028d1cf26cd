"""renderer/patterns.py: a metric pattern compiles and its first group can capture a number."""

from __future__ import annotations

import pytest

from renderer.patterns import first_group_source, pattern_problem


@pytest.mark.parametrize(
    ("pattern", "group"),
    [
        (r"a=(\d+)", r"\d+"),
        (r"(?:x)(\d+)", r"\d+"),
        (r"(?P<value>\d+)", r"\d+"),
        (r"(?<value>\d+)", r"\d+"),
        (r"(?<=a=)(\d+)", r"\d+"),
        (r"(?<!b)(\d+)", r"\d+"),
        (r"(?=x)(\d+)", r"\d+"),
        (r"[(](\d+)", r"\d+"),
        (r"[]()](\d+)", r"\d+"),
        (r"[^](](\d+)", r"\d+"),
        (r"\((\d+)\)", r"\d+"),
        (r"no group", None),
        (r"(?:only) non-capturing", None),
    ],
)
def test_first_group_source(pattern: str, group: str | None) -> None:
    assert first_group_source(pattern) == group


@pytest.mark.parametrize(
    "pattern",
    [
        r"accuracy=([-+]?\d*\.\d+|\d+)",
        r"Epoch (\d+)",
        r"loss: ([0-9]*\.?[0-9]+)",
        r"throughput=([0-9.]+)",
        r"(?P<v>\d+(?:\.\d+)?) img/s",
        r"value=(\S+)",
        r"size=([\d,]+)",
        r"e=([-+]?\d+\.?\d*[eE][-+]?\d+)",
        r"(?i)LOSS=(\d+)",
        r"^(\d+)+!",  # catastrophic on a backtracking engine, linear on RE2: accepted
        r"[(?=]=(\d+)",  # in a class, "(?=" is three characters, not lookahead
        r"\(?=(\d+)",
        r"x\101=(\d+)",  # \101 is an octal escape ("A"), not a backreference
    ],
)
def test_usable_patterns(pattern: str) -> None:
    assert pattern_problem(pattern) is None


def test_pattern_that_does_not_compile() -> None:
    assert pattern_problem("a=(") == (
        "pattern does not compile: RE2 cannot compile it (missing ): a=(); remember TOML needs '\\\\' for a"
        " backslash in \"…\" strings, or use '…'"
    )


ENGINE = "pattern cannot run on the linear-time engine (RE2) that reads logs: "


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r"x=(\d+) y=\1", "a backreference (\\1, (?P=name)) needs a backtracking engine; match the repeated text"),
        (r"(?P<v>\d+) (?P=v)", "a backreference"),
        (r"loss=([0-9.]+)(?= )", "lookaround ((?=…), (?!…), (?<=…), (?<!…)) needs a backtracking engine; match the"
                                 " surrounding text instead"),
        (r"(?<=loss=)([0-9.]+)", "lookaround"),
        (r"(?<!val_)loss=([0-9.]+)", "lookaround"),
        (r"loss=(\d++)", "possessive repeats"),
        (r"(?>loss)=(\d+)", "atomic groups"),
        (r"(a)?(?(1)b|c)=(\d+)", "a conditional"),
        (r"loss=(\d+)\Z", "each line is matched on its own: use ^ and $"),
        (r"\Aloss=(\d+)", "each line is matched on its own"),
        (r"(?x) loss = (\d+)", "verbose mode (?x) is not supported"),
    ],
)
def test_constructs_the_engine_cannot_run_are_refused_with_what_to_write(pattern: str, says: str) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None and problem.startswith(ENGINE) and says in problem, problem


def test_a_pattern_too_large_for_the_engine_is_refused() -> None:
    problem = pattern_problem(r"x=(\d{1000}){1000}")
    assert problem is not None and problem.startswith("pattern does not compile: RE2 cannot compile it ("), problem


def test_pattern_without_a_group() -> None:
    assert pattern_problem(r"a=\d+") == (
        "pattern has no capture group; put the number in parentheses, e.g. 'accuracy=([-+]?\\d*\\.?\\d+)'"
    )


@pytest.mark.parametrize(("pattern", "group"), [("a=([a-z]+)", "[a-z]+"), (r"(done)", "done"), (r"x=(\s+)", r"\s+")])
def test_group_that_never_matches_a_number(pattern: str, group: str) -> None:
    assert pattern_problem(pattern) == (
        f"the first capture group ({group}) never matches a number such as 42 or 3.14; the value of a metric is the"
        " first group"
    )


@pytest.mark.parametrize("pattern", [r"(\d*)", r"(\d+)?", r"^(\d*)$"])
def test_pattern_matching_an_empty_line(pattern: str) -> None:
    assert pattern_problem(pattern) == "pattern matches an empty line; anchor it on the text around the number"


NESTED_BUG = (
    "bug: patterns.first_group_source returns the first group to *close*, but Python numbers groups by their"
    " opening parenthesis, so with nested groups it checks an inner group instead of group 1"
)


def test_first_group_of_nested_groups_is_the_outer_one() -> None:
    assert first_group_source(r"((\d+)\.\d+)") == r"(\d+)\.\d+"


def test_nested_group_whose_outer_group_is_not_a_number_is_refused() -> None:
    # group 1 captures "lat=42", which is no number; the check looks at the inner (\d+) and lets it pass
    assert pattern_problem(r"(lat=(\d+))") is not None


def test_nested_group_whose_outer_group_is_a_number_is_accepted() -> None:
    # group 1 captures "42" (or "v42"); the check looks at the inner (v) and refuses it
    assert pattern_problem(r"((v)?\d+)") is None
