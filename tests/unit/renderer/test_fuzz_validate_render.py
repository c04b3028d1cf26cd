"""Structure-aware fuzzing of validate → render (issue 15, acceptance).

Seeds: every descriptor of this repository (``benchmarks/*/descriptor.toml``) and the original
project's descriptor shapes (``tests/unit/renderer/compat/*.toml``, from awslabs/benchmark-ai's
README and examples, see ``../shared/seed/``). Hypothesis mutates them field by field — deletes a
field, puts a hostile value in it (control characters, a trailing newline, megabyte strings, 2^63−1,
nan, TOML dates, deep nesting, traversing paths, registry tricks), adds a matrix of many points — and
places the benchmark folder in a hostile shape (a link to ``/proc/self/environ`` in ``src/``, a FIFO).

For each case:

* ``check_descriptor`` either plans or raises :class:`DescriptorError`; nothing else escapes;
* whatever it plans, ``render_run`` renders for every cluster run (validate never passes what render
  refuses), and the manifests never hold the renderer's environment;
* each case stays within a deadline (hypothesis' own, generous for a loaded machine) and the process's
  peak memory stays within a few hundred MB of where it started.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import resource
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers_validation import make_repo
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from toml_writing import DottedKey
from toml_writing import inline as _inline
from toml_writing import key as _key
from toml_writing import string as _string

from renderer.manifests import render_run
from renderer.planning import Catalog, check_descriptor
from schemas.errors import DescriptorError

ROOT = Path(__file__).resolve().parents[3]
SEEDS = {
    f"{p.parent.name}/{p.name}": tomllib.loads(p.read_text())
    for p in [*sorted((ROOT / "benchmarks").glob("*/descriptor.toml")), *sorted((ROOT / "tests/unit/renderer/compat").glob("*.toml"))]
}
MEMORY_HEADROOM_KIB = 400 * 1024
SECRET = "ANUBIS_FUZZ_SECRET_7f3a"  # in this process's environment: it must never reach a manifest

# --- TOML: top-level tables, every deeper value inline (nesting counts as bracket depth) --------------


def dump(data: dict[str, Any]) -> str:
    lines = [f"{_key(k)} = {_inline(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{_string(key)}]")
            lines.extend(f"{_key(k)} = {_inline(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


# --- mutations ---------------------------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out += _paths(value, (*prefix, i))
    return out


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    if isinstance(node, list):
        return [leaf for value in node for leaf in _leaves(value)]
    return [node]


def _nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


class Deep:
    """A value nested ``depth`` levels deep, written straight to TOML text (a Python structure that deep
    would exhaust the test's own recursion before the code under test sees it)."""

    def __init__(self, depth: int, tables: bool) -> None:
        self.depth, self.tables = depth, tables

    def toml(self) -> str:
        if self.tables:
            return "{a = " * self.depth + "1" + "}" * self.depth
        return "[" * self.depth + "1" + "]" * self.depth

    def __repr__(self) -> str:
        return f"Deep({self.depth}, tables={self.tables})"


HOSTILE_STRINGS = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=12),
    st.text(max_size=8).map(lambda s: s + "\n"),
    st.sampled_from([
        "gpus\n", "30m\n", "demo\n", "python:3.11\n", "EVILHOST/x", "docker.io/EVIL/x", "a" * 64, "/data/../d", "/",
        "//x", "/var/cache/anubis", "/opt", "x\x00y", "$(BAI_SCRIPTS_PATH)/src/../../../etc/passwd", "../outside",
        "src", "/proc/self/environ", "m\"} or vector(1) #", "999999999999.dkr.ecr.us-east-1.amazonaws.com/x:1",
        "*.dkr.ecr.*.amazonaws.com/x", "sh -c 'a | b'", "'unclosed", "@often", "61 * * * *", "-1", "0", "1e400",
    ]),
    st.integers(1, 300_000).map(lambda n: "x" * n),
    st.integers(1, 4000).map(lambda n: "(" * n + "a" + ")" * n),
)
HOSTILE_VALUES = st.one_of(
    HOSTILE_STRINGS,
    st.sampled_from([0, -1, 1, 2, 2**31, 2**63 - 1, -(2**63), 1_000_000, True, False, 0.5, 1e308]),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.datetimes(timezones=st.sampled_from([None, datetime.UTC])).filter(lambda d: d.year >= 1),
    st.dates(),
    st.times(),
    st.integers(1, 30).map(_nested),
    st.builds(Deep, st.integers(1, 3000), st.booleans()),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(["a", "src", "path", "task_name", "x\ny"]), st.integers(0, 3), max_size=2),
)
# the values the seeds themselves hold: a mutation that moves one to another field stays plausible
PLAUSIBLE = st.sampled_from(sorted(
    {json.dumps(v) for seed in SEEDS.values() for v in _leaves(seed)} | {json.dumps(v) for v in (2, 4, "gpus", "30m")}
)).map(json.loads)
VALUES = st.one_of(PLAUSIBLE, HOSTILE_VALUES)
NEW_KEYS = st.sampled_from([
    ("hardware", "distributed", "num_instances"), ("hardware", "distributed", "processes_per_instance"),
    ("hardware", "aws_zone_id"), ("hardware", "availability_zone"), ("info", "timeout"), ("info", "labels", "task_name"),
    ("info", "environment"), ("info", "scheduling"), ("custom_params", "when"), ("custom_params", "deep"),
    ("ml", "script", "script"), ("env", "vars", "X\n"), ("env", "vars", "A"), ("info", "description"),
    ("env", "docker_image"), ("ml", "benchmark_code"), ("hardware", "instance_type"), ("unknown",),
])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = json.loads(json.dumps(SEEDS[name]))  # a deep copy (the seeds hold no dates)
    dotted = draw(st.integers(0, 2)) == 2  # sometimes: a key path thousands of tables deep
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(data)
        kind = draw(st.sampled_from(["set", "set", "delete", "add", "matrix"]))
        if kind in ("set", "delete") and paths:
            path = draw(st.sampled_from(paths))
            parent: Any = data
            for part in path[:-1]:
                parent = parent[part]
            if kind == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(VALUES)
        elif kind == "add":
            path = draw(NEW_KEYS)
            node: Any = data
            for part in path[:-1]:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            node[path[-1]] = draw(VALUES)
        else:
            axes = draw(st.integers(1, 9))
            width = draw(st.integers(1, 10))
            data["matrix"] = {
                "axes": {f"env.vars.A{i}": [str(v) for v in range(width)] for i in range(axes)},
                **({"include": [{"env.vars.A0": "x"}]} if draw(st.booleans()) else {}),
            }
    if dotted:
        params = data["custom_params"] if isinstance(data.get("custom_params"), dict) else {}
        params[DottedKey(".".join(["k"] * draw(st.integers(20, 3000))))] = 1
        data["custom_params"] = params
    return name, data


# --- the folder a descriptor sits in ------------------------------------------------------------------------

SHAPES = ["plain", "src", "src-link-environ", "src-link-out", "src-fifo"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ[SECRET] = "secret-value-never-rendered"
    repo = make_repo(tmp_path_factory.mktemp("fuzz"))
    for shape in SHAPES:
        folder = repo / "benchmarks" / shape
        folder.mkdir()
        if shape == "plain":
            continue
        src = folder / "src"
        src.mkdir()
        for script in ("entrypoint.sh", "train.py", "a.py"):
            (src / script).write_text("print('a=1')\n")
        if shape == "src-link-environ":
            (src / "env.txt").symlink_to("/proc/self/environ")
        elif shape == "src-link-out":
            (src / "up.txt").symlink_to("../../../environments/cpu-cluster.toml")
        elif shape == "src-fifo":
            os.mkfifo(src / "pipe")
    return repo


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@settings(
    max_examples=150,
    # a hang (a FIFO, a quadratic split, a matrix expanded into memory) takes minutes; a 256-point matrix
    # about 5 s on a loaded 2-core machine (bench/validate_matrix.py)
    deadline=datetime.timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(case=mutated(), shape=st.sampled_from(["plain", "src", *SHAPES]))
def test_validate_refuses_with_descriptor_errors_only_and_render_renders_what_it_accepts(
    repo: Path, case: tuple[str, dict[str, Any]], shape: str
) -> None:
    _, data = case
    start = _peak_kib()
    path = repo / "benchmarks" / shape / "descriptor.toml"
    path.write_text(dump(data), encoding="utf-8")
    catalog = Catalog(repo)
    try:
        planned = check_descriptor(path, repo_root=repo, catalog=catalog)
    except DescriptorError as e:
        event("refused")
        assert e.problems and all(p.line >= 1 and p.column >= 1 and p.message for p in e.problems)
        assert len(str(e)) < 64 * 1024, "a message must not repeat what it refuses at length"
    else:
        event(f"planned {len(planned.runs)} run(s)")
        assert shape not in ("src-link-environ", "src-link-out", "src-fifo") or planned.scripts is None
        contents = planned.scripts.contents() if planned.scripts else {}
        for run in planned.runs:
            env = catalog.get(run.environment)
            if env.kind != "kubernetes":
                continue
            text = render_run(run, env, contents).text
            assert all(isinstance(d, dict) for d in yaml.safe_load_all(text) if d is not None)
            assert "secret-value-never-rendered" not in text
    assert _peak_kib() - start < MEMORY_HEADROOM_KIB


def test_the_writer_round_trips_dates_and_nesting() -> None:
    data = {
        "a": datetime.date(1979, 5, 27), "t": {"d": datetime.datetime(1979, 5, 27, 7, 32), "n": _nested(5), "s": "x\n\x7f"},
    }
    assert tomllib.loads(dump(data)) == data


def test_every_seed_is_valid_as_written(repo: Path) -> None:
    # the mutations start from descriptors that plan: a failure below is the mutation's, not the seed's
    for name, data in SEEDS.items():
        folder = "src" if "BAI_SCRIPTS_PATH" in json.dumps(data) else "plain"
        path = repo / "benchmarks" / folder / "descriptor.toml"
        path.write_text(dump(data), encoding="utf-8")
        assert check_descriptor(path, repo_root=repo).runs, name
