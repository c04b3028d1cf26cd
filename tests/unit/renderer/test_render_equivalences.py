"""The renderer's fast paths write exactly what the plain ways wrote (issue 16: the same bytes, faster):
scalars formatted without ``json.dumps``, indented JSON written in one pass, each run rendered once
while it is checked."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers_validation import descriptor, make_repo, write_descriptor
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer.dashboards import indented_json
from renderer.manifests import render_run, to_json
from renderer.planning import _LONGEST_SOURCE, Catalog, check_descriptor
from schemas.errors import DescriptorError, RenderError

ROOT = Path(__file__).resolve().parents[3]

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["\x7f", "\u2028", "\ufeff", "é", "\ud800", "a\"b\\c\n", "\x00"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=20,
)

_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _to_json_as_it_was(value: Any) -> str:
    """renderer.manifests.to_json before the fast path (only strings, integers, booleans and null)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_plain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, bool, int))


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_to_json_writes_what_json_dumps_wrote(value: Any) -> None:
    if _plain(value):
        assert to_json(value) == _to_json_as_it_was(value)
    else:
        with pytest.raises(RenderError):
            to_json(value)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_indented_json_is_json_dumps_with_indent(value: Any) -> None:
    assert indented_json(value) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def test_indented_json_leaves_keys_that_are_not_strings_to_json_dumps() -> None:
    value = {"b": [1, {2: "two", 1: "one"}], "a": None}
    assert indented_json(value) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _repository_descriptors() -> list[Path]:
    return sorted(ROOT.glob("benchmarks/*/descriptor.toml"))


@pytest.mark.parametrize("descriptor", _repository_descriptors(), ids=lambda p: p.parent.name)
def test_the_manifests_rendered_while_checking_are_render_run_s(descriptor: Path) -> None:
    catalog = Catalog(ROOT)
    planned = check_descriptor(descriptor, repo_root=ROOT, catalog=catalog, render=True)
    contents = planned.scripts.contents() if planned.scripts else {}
    clusters = [run for run in planned.runs if catalog.get(run.environment).kind == "kubernetes"]
    assert clusters and set(planned.manifests) == {run.run_id for run in clusters}
    for run in clusters:
        expected = render_run(run, catalog.get(run.environment), contents)
        assert planned.manifests[run.run_id] == expected
    assert not check_descriptor(descriptor, repo_root=ROOT, catalog=catalog).manifests  # only when asked for


def test_a_run_only_a_longer_source_cannot_render_is_refused_with_the_trial_s_message(tmp_path: Path) -> None:
    """Rendered once with its own (short) source, a run whose annotations would not fit with the longest
    source a publish or a preview gives is refused all the same, with the message `validate` gives."""
    from renderer import objects

    root = make_repo(tmp_path)
    text = descriptor()
    path = write_descriptor(root, text)
    planned = check_descriptor(path, repo_root=root, render=True)
    size = sum(len(k) + len(v.encode()) for k, v in objects.object_annotations(planned.runs[0]).items())
    # a description that fits with this render's empty source, not with the longest (≈800 bytes more)
    room = objects.ANNOTATIONS_LIMIT_BYTES // 2 - size - 200
    path.write_text(text.replace("A test benchmark.", "d" * room), encoding="utf-8")
    long = dataclasses.replace(planned.runs[0], description="d" * room)
    objects.object_annotations(long)  # fits with this render's source
    with pytest.raises(RenderError):
        objects.object_annotations(dataclasses.replace(long, source=_LONGEST_SOURCE))
    messages = []
    for render in (False, True):
        with pytest.raises(DescriptorError) as caught:
            check_descriptor(path, repo_root=root, render=render)
        messages.append([(p.field, p.message) for p in caught.value.problems])
    assert messages[0] == messages[1]
    assert messages[0][0][0] == "info.description" and "annotations take" in messages[0][0][1]


RULE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["0s", "30m", "yes", "null", "~", "1e3", "0x10", "- a", "a: b", "#c", "'q'", '"q"', "{{ $labels.x }}", "a\nb",
     "x" * 1200, " ".join(["word"] * 400), "é", "\t", " lead", "trail ", "*/5 * * * *", "@daily"]
)
RULE_DOCUMENT = st.recursive(
    st.one_of(RULE_TEXT, st.integers(), st.booleans(), st.none()),
    # keys as the rules have them (the emitters differ on keys such as '' that the rules never hold)
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
        st.sampled_from(["alert", "expr", "for", "labels", "annotations", "summary", "severity", "stuck", "run_id"]),
        inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(RULE_DOCUMENT)
def test_the_alert_rules_c_dumper_writes_what_safe_dump_wrote(document: Any) -> None:
    """renderer/alerts.py dumps with libyaml's emitter: the bytes PyYAML's own SafeDumper wrote."""
    import yaml

    from renderer.alerts import _dump

    expected = yaml.safe_dump({"groups": document}, sort_keys=False, default_flow_style=False, width=1000)
    assert _dump({"groups": document}) == expected


def test_the_rule_files_hold_the_rules_of_every_run() -> None:
    """The PrometheusRule carries the same groups as the rule file (no longer by re-reading its YAML)."""
    import yaml

    from renderer.alerts import render_alert_rules, render_prometheus_rule
    from renderer.planning import plan_runs

    runs = [run for d in _repository_descriptors() for run in plan_runs(d, repo_root=ROOT)]
    [rules] = render_alert_rules(runs).values()
    [rule] = render_prometheus_rule(runs).values()
    assert rules.splitlines()[0] == rule.splitlines()[0] and rule.splitlines()[1] == "apiVersion: monitoring.coreos.com/v1"
    assert yaml.safe_load(rule)["spec"] == yaml.safe_load(rules)


def _bracket_depth_as_it_was(text: str) -> tuple[int, int]:
    """renderer.loading._bracket_depth before it jumped between the characters that matter."""
    depth = deepest = 0
    line = where = 1
    i, n = 0, len(text)
    quote = ""
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            if quote in ('"', "'"):
                quote = ""
        elif quote:
            if quote in ('"', '"""') and ch == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith('"""', i) or text.startswith("'''", i):
            quote = text[i : i + 3]
            i += 3
            continue
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, line
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return deepest, where


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(['"', "'", '"""', "'''", "\\", "\n", "#", "[", "]", "{", "}", "a", " ", "=", "\\\n"]),
                max_size=60).map("".join))
def test_the_bracket_depth_is_what_the_character_loop_found(text: str) -> None:
    from renderer.loading import _bracket_depth

    assert _bracket_depth(text) == _bracket_depth_as_it_was(text)
