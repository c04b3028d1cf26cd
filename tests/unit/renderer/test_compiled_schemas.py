"""The compiled schemas (renderer/compiled_schemas.py) say "valid" exactly where jsonschema does: the
descriptor's and the environment's, both as compiled at run time and as shipped in renderer/compiled/, on
every descriptor and environment the repository and the tests have and on random mutations of them. The
shipped modules are what the schemas give today (``ANUBIS_REGENERATE=1`` rewrites them)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import renderer.compiled_schemas as compiled_schemas
from renderer.compiled_schemas import (
    COMPILE_AFTER,
    SHIPPED,
    CompiledSchema,
    Unsupported,
    compile_schema,
    generated_code,
    prepare,
    shipped_check,
    spell_dollar,
)
from schemas.loading import load_schema

ROOT = Path(__file__).resolve().parents[3]
DESCRIPTOR_SEEDS = sorted(
    [*ROOT.glob("benchmarks/*/descriptor.toml"), *(ROOT / "tests" / "unit" / "renderer" / "compat").glob("*.toml")]
)
ENVIRONMENT_SEEDS = sorted([*ROOT.glob("environments/*.toml"), ROOT / "renderer" / "defaults" / "local.toml"])
SEEDS = [*(("descriptor", p) for p in DESCRIPTOR_SEEDS), *(("environment", p) for p in ENVIRONMENT_SEEDS)]
REFERENCE = {name: jsonschema.Draft202012Validator(load_schema(name)) for name in SHIPPED}
COMPILED = {name: compile_schema(load_schema(name)) for name in SHIPPED}
SHIPPED_CHECKS = {name: shipped_check(name) for name in SHIPPED}


def _accepts(check: Callable[[Any], Any] | None, data: Any) -> bool:
    assert check is not None, "the shipped module is stale: run with ANUBIS_REGENERATE=1"
    try:
        check(data)
    except Exception:  # noqa: BLE001 - as CompiledSchema.accepts reads it
        return False
    return True


def _seed(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_the_seeds_are_valid_and_accepted() -> None:
    assert len(DESCRIPTOR_SEEDS) >= 8 and len(ENVIRONMENT_SEEDS) >= 4
    for name, path in SEEDS:
        data = _seed(path)
        assert REFERENCE[name].is_valid(data), path
        assert _accepts(COMPILED[name], data), path
        assert _accepts(SHIPPED_CHECKS[name], data), path


def test_the_compiled_check_changes_nothing() -> None:
    """No defaults are filled in (the schema has some): the data checked is the data planned."""
    for name, path in SEEDS:
        data = _seed(path)
        before = copy.deepcopy(data)
        COMPILED[name](data)
        _accepts(SHIPPED_CHECKS[name], data)
        assert data == before


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_module_is_what_the_schema_gives(name: str) -> None:
    """renderer/compiled/<name>.py is generated_code(name) today: the schema, prepare() and fastjsonschema's
    version it was made with (ANUBIS_REGENERATE=1 rewrites it; review the diff)."""
    path = ROOT / "renderer" / "compiled" / f"{name}.py"
    expected = generated_code(name)
    if os.environ.get("ANUBIS_REGENERATE") == "1":
        path.write_text(expected, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with ANUBIS_REGENERATE=1"
    assert path.read_text(encoding="utf-8") == expected, f"{path} is stale: run with ANUBIS_REGENERATE=1"


TRICKY_VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-3, max_value=70000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([
        "", "0.1.0", "0.1.0\n", "single_node", "horovod", "inference", "gpus", "gpus\n", "7", "0", "30m", "30m\n",
        "1.5h", "2x", "abc\n", "a\tb", "a\x7fb", "a\x00", "line\r", "ok-label", "-bad", "x" * 64, "x" * 63,
        "/abs/path", "rel", "md5:abc", "0" * 32, "0" * 31, "sha256:ZZ", "higher", "lower", "per_joule",
        "hardware.instance_type", "env.vars.BATCH", "Info", "ñ", "http", "https", "@daily", "$", "a$",
        # an environment's
        "kubernetes", "local", "pvc", "emptyDir", "host", "sqlite", "s3", "not a uri", "500m", "2Gi", "1.5", "p3.*",
        "{instance_type}", "q-{instance_type}",
    ]),
    st.text(max_size=12),
    st.lists(st.sampled_from(["a", "per_joule", "per_dollar", 1, True, "x\n"]), max_size=3),
    st.dictionaries(st.sampled_from(["src", "uri", "path", "name", "units", "task_name", "a.b", "x\n", "",
                                     "kind", "claim_name", "bucket", "cpu", "gpus"]),
                    st.sampled_from(["s3://b/k", "/p", "m", "", 1, "v\n", "pvc", "s3", "bkt"]), max_size=3),
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


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    picks=st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(["set", "set", "delete", "sibling"]),
                             TRICKY_VALUES), min_size=1, max_size=3),
)
def test_compiled_shipped_and_jsonschema_agree_on_mutated_documents(
    seed: tuple[str, Path], picks: list[tuple[int, str, Any]]
) -> None:
    name, path = seed
    data = _seed(path)
    for index, how, value in picks:
        paths = _paths(data)
        if not paths:
            break
        _mutate(data, paths[index % len(paths)], how, value)
    valid = REFERENCE[name].is_valid(data)
    assert _accepts(COMPILED[name], data) == valid, data
    assert _accepts(SHIPPED_CHECKS[name], data) == valid, data


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({"dataset_cache": {"kind": "pvc"}}, False),
        ({"dataset_cache": {"kind": "pvc", "claim_name": "c"}}, True),
        ({"dataset_cache": {"kind": "host"}}, True),
        ({"result_store": {"kind": "s3"}}, False),
        ({"result_store": {"kind": "s3", "bucket": "abc"}}, True),
        ({"result_store": {"kind": "sqlite"}}, True),
        ({"destination": {"server": "not a uri"}}, True),  # format is an annotation: no format checker
    ],
)
def test_if_then_const_and_format_mean_the_same_in_both(change: dict[str, Any], valid: bool) -> None:
    data = {**_seed(ROOT / "environments" / "local.toml"), **change}
    assert REFERENCE["environment"].is_valid(data) is valid
    assert _accepts(COMPILED["environment"], data) is valid
    assert _accepts(SHIPPED_CHECKS["environment"], data) is valid


def test_a_shipped_schema_is_used_from_the_first_document() -> None:
    """`anubis validate FILE` and `anubis run` check one document each: the shipped check answers at once."""
    compiled = CompiledSchema("descriptor")
    data = _seed(DESCRIPTOR_SEEDS[0])
    assert compiled.accepts(data)
    assert not compiled.accepts({**data, "spec_version": "9"})


def test_a_stale_shipped_module_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module made from another version of the schema could accept what the schema now refuses: it is
    set aside, and the schema is compiled after COMPILE_AFTER documents as any other."""
    monkeypatch.setattr(compiled_schemas, "schema_digest", lambda name: "0" * 64)
    assert shipped_check("descriptor") is None
    compiled = CompiledSchema("descriptor")
    data = _seed(DESCRIPTOR_SEEDS[0])
    assert not any(compiled.accepts(data) for _ in range(COMPILE_AFTER))  # jsonschema alone so far
    assert compiled.accepts(data)


def test_only_after_many_documents_is_a_schema_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """A schema that does not ship compiled: checking one document must not pay for the compilation."""
    monkeypatch.setattr(compiled_schemas, "SHIPPED", ())
    compiled = CompiledSchema("descriptor")
    data = _seed(DESCRIPTOR_SEEDS[0])
    assert not any(compiled.accepts(data) for _ in range(COMPILE_AFTER))  # jsonschema alone so far
    assert compiled.accepts(data)
    broken = {**data, "spec_version": "9"}
    assert not compiled.accepts(broken)


PROBE = """
import json, sys
from pathlib import Path
from renderer.environments import load_environment
from renderer.planning import plan_runs
root = Path({root!r})
load_environment(root, "local")
plan_runs(root / {descriptor!r}, repo_root=root, environment="local")
print(json.dumps(sorted(sys.modules)))
"""


def test_a_valid_document_imports_no_schema_library() -> None:
    """A valid descriptor and environment are checked by the shipped code alone: neither jsonschema
    (about 50 ms to import) nor fastjsonschema's code generator is imported."""
    probe = PROBE.format(root=str(ROOT), descriptor="benchmarks/hello-world")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    modules = {m.split(".")[0] for m in json.loads(result.stdout)}
    assert "renderer" in modules
    assert not modules & {"jsonschema", "fastjsonschema"}, sorted(modules & {"jsonschema", "fastjsonschema"})


@pytest.mark.parametrize(
    "schema",
    [
        {"$defs": {"a": {"type": "object", "properties": {"x": {"$ref": "#/$defs/a"}}}}, "$ref": "#/$defs/a"},
        {"$ref": "https://example.com/other.json"},
        {"enum": [1, 2]},
        {"const": True},
        {"type": "string", "pattern": "[a$]"},
        {"type": "object", "dependentRequired": {"a": ["b"]}},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "array", "prefixItems": [{"type": "string"}]},
    ],
    ids=["recursive-ref", "remote-ref", "int-enum", "bool-const", "dollar-in-set", "dependent-required", "items-list",
         "prefix-items"],
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
