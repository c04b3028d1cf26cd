"""The compiled descriptor schema (renderer/compiled_schemas.py) says "valid" exactly where jsonschema does:
on every descriptor the repository and the tests have, and on random mutations of them."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderer.compiled_schemas import COMPILE_AFTER, CompiledSchema, Unsupported, compile_schema, prepare, spell_dollar
from schemas.loading import load_schema

ROOT = Path(__file__).resolve().parents[3]
SEEDS = sorted(
    [*ROOT.glob("benchmarks/*/descriptor.toml"), *(ROOT / "tests" / "unit" / "renderer" / "compat").glob("*.toml")]
)
SCHEMA = load_schema("descriptor")
REFERENCE = jsonschema.Draft202012Validator(SCHEMA)
COMPILED = compile_schema(SCHEMA)


def _compiled_accepts(data: Any) -> bool:
    try:
        COMPILED(data)
    except Exception:  # noqa: BLE001 - as CompiledSchema.accepts reads it
        return False
    return True


def _seed(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_the_seeds_are_valid_and_accepted() -> None:
    assert len(SEEDS) >= 8
    for path in SEEDS:
        data = _seed(path)
        assert REFERENCE.is_valid(data), path
        assert _compiled_accepts(data), path


def test_the_compiled_check_changes_nothing() -> None:
    """No defaults are filled in (the schema has some): the data checked is the data planned."""
    for path in SEEDS:
        data = _seed(path)
        before = copy.deepcopy(data)
        COMPILED(data)
        assert data == before


TRICKY_VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-3, max_value=70000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([
        "", "0.1.0", "0.1.0\n", "single_node", "horovod", "inference", "gpus", "gpus\n", "7", "0", "30m", "30m\n",
        "1.5h", "2x", "abc\n", "a\tb", "a\x7fb", "a\x00", "line\r", "ok-label", "-bad", "x" * 64, "x" * 63,
        "/abs/path", "rel", "md5:abc", "0" * 32, "0" * 31, "sha256:ZZ", "higher", "lower", "per_joule",
        "hardware.instance_type", "env.vars.BATCH", "Info", "ñ", "http", "https", "@daily", "$", "a$",
    ]),
    st.text(max_size=12),
    st.lists(st.sampled_from(["a", "per_joule", "per_dollar", 1, True, "x\n"]), max_size=3),
    st.dictionaries(st.sampled_from(["src", "uri", "path", "name", "units", "task_name", "a.b", "x\n", ""]),
                    st.sampled_from(["s3://b/k", "/p", "m", "", 1, "v\n"]), max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _mutate(data: dict[str, Any], path: tuple[Any, ...], how: str, value: Any) -> None:
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "sibling" and isinstance(parent, dict):
        parent[value if isinstance(value, str) else "unknown_field"] = value
    else:
        parent[last] = value


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    picks=st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(["set", "set", "delete", "sibling"]),
                             TRICKY_VALUES), min_size=1, max_size=3),
)
def test_compiled_and_jsonschema_agree_on_mutated_descriptors(seed: Path, picks: list[tuple[int, str, Any]]) -> None:
    data = _seed(seed)
    for index, how, value in picks:
        paths = _paths(data)
        if not paths:
            break
        _mutate(data, paths[index % len(paths)], how, value)
    assert _compiled_accepts(data) == REFERENCE.is_valid(data), data


def test_only_after_many_documents_is_the_schema_compiled() -> None:
    """`anubis validate FILE` checks one document: it must not pay for the compilation."""
    compiled = CompiledSchema("descriptor")
    data = _seed(SEEDS[0])
    assert not any(compiled.accepts(data) for _ in range(COMPILE_AFTER))  # jsonschema alone so far
    assert compiled.accepts(data)
    broken = {**data, "spec_version": "9"}
    assert not compiled.accepts(broken)


@pytest.mark.parametrize(
    "schema",
    [
        {"$defs": {"a": {"type": "object", "properties": {"x": {"$ref": "#/$defs/a"}}}}, "$ref": "#/$defs/a"},
        {"$ref": "https://example.com/other.json"},
        {"enum": [1, 2]},
        {"const": True},
        {"type": "string", "pattern": "[a$]"},
        {"type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]}},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "string", "format": "email"},
    ],
    ids=["recursive-ref", "remote-ref", "int-enum", "bool-const", "dollar-in-set", "if-then", "items-list", "format"],
)
def test_what_the_compiled_code_would_read_otherwise_is_left_to_jsonschema(schema: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        prepare(schema)


def test_a_ref_keeps_its_sibling_keywords() -> None:
    """Draft-07 (fastjsonschema) ignores keywords beside a $ref; 2020-12 applies them: inlined as allOf."""
    schema = {
        "$defs": {"line": {"type": "string"}},
        "type": "object",
        "properties": {"name": {"$ref": "#/$defs/line", "maxLength": 3, "pattern": "^[a-z]+$"}},
    }
    check = compile_schema(schema)
    check({"name": "abc"})
    jsonschema.Draft202012Validator(schema).validate({"name": "ab\n"})  # $ matches before a final newline
    check({"name": "ab\n"})
    for bad in ({"name": "abcd"}, {"name": "AB"}, {"name": 1}):
        with pytest.raises(Exception):  # noqa: B017 - fastjsonschema's JsonSchemaValueException
            check(bad)


@pytest.mark.parametrize("pattern", ["^a$", "^(?=.{1,3}$)x+$", r"a\$", r"a\\$", "(x|$)", "^[a-z]+$", r"^[\]]$"])
def test_a_spelt_dollar_matches_what_the_dollar_matched(pattern: str) -> None:
    spelt = spell_dollar(pattern)
    assert re.search(r"(?<!\\)\$", spelt.replace("\\\\", "")) is None  # nothing left for fastjsonschema to rewrite
    for text in ["a", "a\n", "a\n\n", "x", "xx\n", "xxxx", "a$", "a\\", "a\\\n", "", "\n", "$", "]", "]\n", "abc"]:
        assert bool(re.search(spelt, text)) == bool(re.search(pattern, text)), (pattern, text)


@pytest.mark.parametrize("pattern", ["^[$]?", "[]$]", "^[^$]$", "[a-$]"])
def test_a_dollar_inside_a_set_is_left_to_jsonschema(pattern: str) -> None:
    with pytest.raises(Unsupported):
        spell_dollar(pattern)
