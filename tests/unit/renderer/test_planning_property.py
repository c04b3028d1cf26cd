"""Property tests of check_descriptor: any input either plans or raises DescriptorError, deterministically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers_validation import make_repo
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from toml_writing import inline as _inline
from toml_writing import key as _key

from renderer.planning import check_descriptor
from schemas.errors import DescriptorError

# --- TOML: tables and arrays of tables (values and keys from toml_writing) ------------------------


def _is_aot(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def dump_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []

    def table(node: dict[str, Any], prefix: list[str]) -> None:
        for key, value in node.items():
            if not isinstance(value, dict) and not _is_aot(value):
                lines.append(f"{_key(key)} = {_inline(value)}")
        for key, value in node.items():
            name = ".".join(_key(k) for k in [*prefix, key])
            if isinstance(value, dict):
                lines.extend(["", f"[{name}]"])
                table(value, [*prefix, key])
            elif _is_aot(value):
                for element in value:
                    lines.extend(["", f"[[{name}]]"])
                    table(element, [*prefix, key])

    table(data, [])
    return "\n".join(lines) + "\n"


def test_the_writer_round_trips() -> None:
    import tomllib

    data = {
        "a": 1, "b": "x\"y\n\x7f", "c": [1, "2", {"d": True}], "t": {"k": 1.5, "u": {"v": []}},
        "aot": [{"x": 1, "sub": {"y": 2}, "inner": [{"z": 3}]}, {"x": 2}], "k.dotted": {"q": "w"},
    }
    assert tomllib.loads(dump_toml(data)) == data


# --- strategies -----------------------------------------------------------------------------------

JUNK = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31),
    st.text(max_size=6),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(min_value=0, max_value=9), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b", "src", "path"]), st.integers(min_value=0, max_value=9), max_size=2),
)
MISSING = object()


def _field(strategy: st.SearchStrategy[Any], *, junk: bool, optional: bool = True) -> st.SearchStrategy[Any]:
    choices = [strategy]
    if junk:
        choices.append(JUNK)
    if optional:
        choices.append(st.just(MISSING))
    return st.one_of(*choices)


def _table(extra_keys: bool, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    extra = st.dictionaries(st.sampled_from(["strateg", "colour", "uri", "x_y"]), JUNK, max_size=1 if extra_keys else 0)
    return st.builds(
        lambda values, more: {**{k: v for k, v in values.items() if v is not MISSING}, **more},
        st.fixed_dictionaries(fields),
        extra,
    )


def descriptors(messy: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Descriptors built field by field; ``messy`` also puts values of the wrong type and unknown keys in."""

    def field(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return _field(strategy, junk=messy)

    def table(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        return _table(messy, **fields)

    LABEL = st.one_of(st.sampled_from(["team", "task_name", "a.b", "bad key", "-x", "x" * 64]), st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True))
    DURATION = st.sampled_from([60, "90s", "10m", "2h", "13h", "2d", "1.5h", "10 minutes", 0, -1])
    PATTERN = st.one_of(
        st.sampled_from([r"a=(\d+)", r"a=\d+", "a=(", "([a-z]+)", r"(\d*)", r"((\d+)\.\d+)", r"(?P<v>[0-9.]+)", ""]),
        st.text(alphabet="()[]?*+\\d.=a|^$", max_size=10),
    )
    SOURCE = table(
        src=field(st.sampled_from(["https://e.com/a", "s3://b/k", "ftp://x/y", "file:///tmp/a", "nourl", ""])),
        uri=field(st.sampled_from(["https://e.com/u"])),
        path=field(st.sampled_from(["/data/a", "/data", "/data/a/b", "rel/p", "/models/m", ""])),
        md5=field(st.sampled_from(["", "0" * 32, "sha256:" + "a" * 64, "sha256:ab", "whirl:ab", "nothex"])),
        id=field(st.sampled_from(["x", "y"])),
    )
    METRIC = table(
        name=field(st.sampled_from(["loss", "accuracy", "1bad", "loss"])),
        units=field(st.sampled_from(["ms", "img/s", "ratio"])),
        pattern=field(PATTERN),
        direction=field(st.sampled_from(["higher", "lower", "up"])),
        regression=field(table(min_change=field(st.floats(-1, 1)), window=field(st.integers(0, 30)))),
    )
    SERVER = table(
        hardware=field(table(instance_type=field(st.sampled_from(["c5.xlarge", "t3.medium", "nope"])))),
        env=field(
            table(
                docker_image=field(st.sampled_from(["python:3.11", "quay.io/x:1"])),
                start_command=field(st.sampled_from(["serve --port 8080", "serve && wait", "sh -c 'a | b'", "'open"])),
                ports=field(st.lists(st.integers(-1, 70000), max_size=3)),
                privileged=field(st.booleans()),
                readiness_probe=field(
                    table(path=field(st.sampled_from(["/ping", "ping"])), port=field(st.integers(0, 70000)))
                ),
            )
        ),
        models=field(st.lists(SOURCE, max_size=2)),
        output=field(table(metrics=field(st.lists(METRIC, max_size=2)))),
    )
    AXES = st.dictionaries(
        st.sampled_from(
            ["hardware.instance_type", "env.vars.X", "info.timeout", "info.rerun", "hardware", "ml.args",
             "hardware.strategy", "ml.benchmark_code.x", "spec_version"]
        ),
        st.lists(st.one_of(st.sampled_from(["c5.xlarge", "c5.2xlarge", "1", "2", "13h", "--x"]), st.integers(0, 3)),
                 min_size=0, max_size=3),
        max_size=3,
    )
    DESCRIPTOR = table(
        spec_version=field(st.sampled_from(["0.1.0", "0.2.0"])),
        info=field(
            table(
                description=field(st.text(max_size=20)),
                scheduling=field(st.sampled_from(["single_run", "@daily", "@often", "0 3 * * *", "* *", "", "61 * * * *"])),
                execution_engine=field(st.sampled_from(["default", "aws.sagemaker", "k8s"])),
                labels=field(st.dictionaries(LABEL, st.one_of(LABEL, JUNK), max_size=12)),
                environment=field(st.sampled_from(["local", "cpu-cluster", "gpu-cluster", "nowhere", "BAD"])),
                timeout=field(DURATION),
                rerun=field(st.integers(-1, 3)),
            )
        ),
        hardware=field(
            table(
                instance_type=field(st.sampled_from(["c5.xlarge", "p3.8xlarge", "p3.16xlarge", "t3.small", "m5.large", ""])),
                strategy=field(st.sampled_from(["single_node", "horovod", "inference", "mpi"])),
                distributed=field(
                    table(
                        num_instances=field(st.integers(0, 10)),
                        processes_per_instance=field(st.sampled_from(["gpus", "4", 2, 0, "all"])),
                    )
                ),
            )
        ),
        env=field(
            table(
                docker_image=field(st.sampled_from(["python:3.11", "ghcr.io/a/b:1", "quay.io/x:1", "nvcr.io/n:1", ""])),
                privileged=field(st.booleans()),
                extended_shm=field(st.booleans()),
                vars=field(st.dictionaries(st.sampled_from(["A", "B"]), st.one_of(st.text(max_size=3), JUNK), max_size=2)),
            )
        ),
        ml=field(
            table(
                benchmark_code=field(
                    st.sampled_from(["python3 a.py", "python3 $(BAI_SCRIPTS_PATH)/a.py", "a | b", "sh -c 'a && b'", "'x", ""])
                ),
                args=field(st.sampled_from(["--epochs 3", "--x 'y", "> out"])),
                script=field(table(script=field(st.sampled_from(["src", "missing", "a.py", "../x", "code.tar.gz"])))),
            )
        ),
        data=field(table(sources=field(st.lists(SOURCE, max_size=3)))),
        output=field(table(metrics=field(st.lists(METRIC, max_size=3)))),
        server=field(SERVER),
        matrix=field(
            table(
                axes=field(AXES),
                include=field(st.lists(st.dictionaries(st.sampled_from(["env.vars.X", "info.timeout"]),
                                                       st.sampled_from(["1", "3", "99h"]), max_size=2), max_size=2)),
                exclude=field(st.lists(st.dictionaries(st.sampled_from(["env.vars.X"]), st.sampled_from(["1", "2"]),
                                                       max_size=1), max_size=2)),
            )
        ),
        custom_params=field(st.dictionaries(st.sampled_from(["a", "b"]), JUNK, max_size=2)),
    )
    return DESCRIPTOR


def _unique_by(key: str) -> Any:
    return lambda items: [dict(item, **{key: f"{item[key]}{i}"}) for i, item in enumerate(items)]


VALID = st.fixed_dictionaries(
    {
        "spec_version": st.just("0.1.0"),
        "info": st.fixed_dictionaries(
            {"description": st.text(max_size=30), "labels": st.fixed_dictionaries({"task_name": st.just("t")})},
            optional={
                "scheduling": st.sampled_from(["single_run", "@daily", "0 3 * * 1-5"]),
                "timeout": st.sampled_from([60, "10m", "2h"]),
                "rerun": st.integers(0, 3),
            },
        ),
        "hardware": st.fixed_dictionaries(
            {"instance_type": st.sampled_from(["c5.xlarge", "t3.small", "c5.2xlarge"])},
            optional={"strategy": st.just("single_node")},
        ),
        "env": st.fixed_dictionaries(
            {"docker_image": st.sampled_from(["python:3.11", "ghcr.io/a/b:1"])},
            optional={"vars": st.dictionaries(st.sampled_from(["A", "B"]), st.text(max_size=4), max_size=2)},
        ),
        "ml": st.fixed_dictionaries(
            {"benchmark_code": st.sampled_from(["python3 a.py", "sh -c 'a | b'"])},
            optional={"args": st.sampled_from(["--epochs 3", "--name 'a b'"])},
        ),
    },
    optional={
        "data": st.fixed_dictionaries(
            {
                "sources": st.lists(
                    st.fixed_dictionaries(
                        {"src": st.sampled_from(["https://e.com/a", "s3://b/k"]), "path": st.just("/data/d")},
                        optional={"md5": st.sampled_from(["", "0" * 32]), "id": st.just("i")},
                    ),
                    max_size=3,
                ).map(_unique_by("path")).map(lambda items: [dict(x, id=f"i{n}") if "id" in x else x for n, x in enumerate(items)])
            }
        ),
        "output": st.fixed_dictionaries(
            {
                "metrics": st.lists(
                    st.fixed_dictionaries(
                        {"name": st.just("m"), "units": st.sampled_from(["ms", "img/s"])},
                        optional={"pattern": st.sampled_from([r"m=(\d+)", r"v: ([0-9.]+)"])},
                    ),
                    max_size=3,
                ).map(_unique_by("name"))
            }
        ),
        "matrix": st.fixed_dictionaries(
            {"axes": st.fixed_dictionaries({"env.vars.X": st.lists(st.sampled_from(["1", "2", "3"]), min_size=1, max_size=3, unique=True)})}
        ),
    },
)
MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["info.scheduling", "info.timeout", "info.environment", "info.labels.team", "hardware.strategy",
             "hardware.instance_type", "hardware.distributed.num_instances", "env.privileged", "env.docker_image",
             "ml.benchmark_code", "ml.script.script", "info", "env.vars.A", "spec_version", "unknown"]
        ),
        st.one_of(JUNK, st.sampled_from(["horovod", "inference", "local", "nowhere", "@often", "13h", "a | b", "src"])),
    ),
    max_size=2,
)


def _mutate(data: dict[str, Any], mutations: list[tuple[str, Any]]) -> dict[str, Any]:
    from renderer.matrix import set_field

    for name, value in mutations:
        try:
            set_field(data, name, value)
        except ValueError:
            pass
    return data


NEARLY_VALID = st.builds(_mutate, VALID, MUTATIONS)


OVERRIDES = st.lists(
    st.sampled_from(["ml.args=--epochs 3", "env.vars.X=\"1\"", "noequals", "ml.benchmark_code.x=1", "info.rerun=1",
                     "hardware.strategy=mpi", "info.timeout=\"1h\"", "a..b=1", "new.field=[1, 2]"]),
    max_size=2,
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("property"))
    for name in ("plain", "scripted"):
        (repo / "benchmarks" / name).mkdir()
    src = repo / "benchmarks" / "scripted" / "src"
    src.mkdir()
    (src / "a.py").write_text("print('a=1')\n")
    (repo / "benchmarks" / "scripted" / "code.tar.gz").write_bytes(b"\x1f\x8b")
    (repo / "benchmarks" / "scripted" / "a.py").write_text("print(1)\n")
    return repo


def outcome(repo: Path, path: Path, overrides: list[str] = []) -> tuple[str, Any]:  # noqa: B006
    """('runs', [RunSpec dicts], [warnings]) or ('error', [problems]); anything else propagates."""
    try:
        planned = check_descriptor(path, repo_root=repo, overrides=overrides)
    except DescriptorError as e:
        for p in e.problems + e.warnings:
            assert p.line >= 1 and p.column >= 1 and p.message, p
        assert e.problems, "a DescriptorError carries at least one error"
        return "error", [p.format() for p in e.problems + e.warnings]
    for w in planned.warnings:
        assert w.severity == "warning"
    return "runs", ([r.to_dict() for r in planned.runs], [w.format() for w in planned.warnings])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.one_of(NEARLY_VALID, descriptors(messy=True), descriptors(messy=False)), folder=st.sampled_from(["plain", "scripted"]), overrides=OVERRIDES)
def test_any_descriptor_plans_or_raises_descriptor_error_deterministically(
    repo: Path, data: dict[str, Any], folder: str, overrides: list[str]
) -> None:
    path = repo / "benchmarks" / folder / "descriptor.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    first = outcome(repo, path, overrides)
    event(first[0])
    second = outcome(repo, path, overrides)
    assert first == second
    if first[0] == "runs":
        runs = first[1][0]
        assert runs, "a descriptor that plans gives at least one run"
        assert len({r["run_id"] for r in runs}) == len(runs)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_raises_only_descriptor_error(repo: Path, text: str) -> None:
    path = repo / "benchmarks" / "plain" / "descriptor.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    assert outcome(repo, path)[0] == "error"


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=100))
def test_arbitrary_bytes_raise_only_descriptor_error(repo: Path, raw: bytes) -> None:
    path = repo / "benchmarks" / "plain" / "descriptor.toml"
    path.write_bytes(raw)
    assert outcome(repo, path)[0] == "error"


SAMPLE = (Path(__file__).resolve().parents[3] / "benchmarks" / "inference-echo" / "descriptor.toml").read_text()
SNIPPETS = ['[', ']', '"""', "'''", '=', '\n', '"', '[[', '#', '.', '\\', "x = 1\n", '[a.b]\n', '""""', "{", "}"]


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, len(SAMPLE)), st.sampled_from(SNIPPETS), st.booleans()), max_size=4))
def test_damaged_descriptors_raise_only_descriptor_error(repo: Path, edits: list[tuple[int, str, bool]]) -> None:
    text = SAMPLE
    for at, snippet, delete in edits:
        text = text[:at] + text[at + len(snippet):] if delete else text[:at] + snippet + text[at:]
    path = repo / "benchmarks" / "scripted" / "descriptor.toml"
    path.write_text(text, encoding="utf-8")
    assert outcome(repo, path) == outcome(repo, path)
