"""Regression detection through the command line: a benchmark run repeatedly with stable output is
not flagged; after a clear step `anubis run` suspects it and runs the benchmark again to confirm it,
and the confirmed step is reported, by direction, by `anubis run`, `anubis results` (table, JSON,
--fail-on-regression), `anubis history`; a baseline reset accepts it. `--no-confirm` leaves the
suspect as it is."""

from __future__ import annotations

import json

from e2e.conftest import Repo, script_descriptor

# Noisy but reproducible: the n-th execution draws its noise from seed n (a counter beside the
# repository), so the test does not depend on what a random draw happens to look like.
BENCH = """
import pathlib, random
counter = pathlib.Path({counter!r})
seed = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(seed + 1))
speed, latency = {speed}, {latency}
rng = random.Random(seed)
for epoch in range(5):
    print(f"epoch {{epoch}} speed={{speed * (1 + rng.gauss(0, 0.004)):.4f}} latency={{latency * (1 + rng.gauss(0, 0.004)):.4f}}", flush=True)
"""

METRICS = (("speed", "it/s", r"speed=([0-9.]+)"), ("latency", "ms", r"latency=([0-9.]+)"))


def _write(repo: Repo, speed: float, latency: float) -> None:
    repo.benchmark(
        "steady",
        script_descriptor("steady", "python3 $(BAI_SCRIPTS_PATH)/src/bench.py", metrics=METRICS),
        {"bench.py": BENCH.format(speed=speed, latency=latency, counter=str(repo.root.parent / "executions"))},
    )


def _verdicts(repo: Repo, ref: str | None = None) -> dict[str, dict[str, object]]:
    done = repo.anubis("results", *([ref] if ref else []), "--output", "json")
    assert done.returncode == 0, done.stderr
    verdicts: dict[str, dict[str, object]] = json.loads(done.stdout)["verdicts"]
    return verdicts


def test_a_step_is_reported_and_stable_runs_are_not(repo: Repo) -> None:
    _write(repo, speed=100.0, latency=10.0)
    stable = repo.anubis("run", "benchmarks/steady", "--repeat", "7", "--output", "json")
    assert stable.returncode == 0, stable.stderr
    executions = json.loads(stable.stdout)["executions"]
    assert len(executions) == 7
    for execution in executions:  # anubis run's own document carries the verdicts too
        for name in ("speed", "latency"):
            assert execution["verdicts"][name]["verdict"] in ("no_change", "insufficient_data"), execution["verdicts"]
    for execution in executions:  # and so does anubis results, for each execution afterwards
        verdicts = _verdicts(repo, execution["execution_id"])
        assert {v["verdict"] for v in verdicts.values()} <= {"no_change", "insufficient_data"}, verdicts
    last = _verdicts(repo)
    baseline = last["speed"]["baseline"]
    assert last["speed"]["verdict"] == "no_change"
    # the six earlier runs make the baseline; one may be set aside as an outlier (more than 5 MAD away
    # from the median, which random noise can reach among six values)
    assert baseline["n"] + len(baseline["excluded"]) == 6 and baseline["n"] >= 5  # type: ignore[index]

    # A clear step: 40 % faster (an improvement) and 40 % slower to answer (a regression).
    _write(repo, speed=140.0, latency=14.0)
    stepped = repo.anubis("run", "benchmarks/steady")
    assert stepped.returncode == 0, stepped.stderr  # SUCCEEDED: a regression does not fail `anubis run`
    # one run of the new level is only suspected (policy confirm = 1): anubis run repeats the
    # benchmark once, and the second run confirms the step
    assert "a change is suspected — confirmation run 1/1" in stepped.stderr
    assert "suspected" in stepped.stdout
    table = stepped.stdout
    assert "verdict" in table and "regression" in table and "improvement" in table
    verdicts = _verdicts(repo)
    assert verdicts["latency"]["verdict"] == "regression"
    assert verdicts["speed"]["verdict"] == "improvement"
    assert verdicts["latency"]["change"] > 0.3 and verdicts["latency"]["confidence"] > 0.999  # type: ignore[operator]

    failing = repo.anubis("results", "--fail-on-regression")
    assert failing.returncode == 3 and "regression in latency" in failing.stderr
    assert "latency: regression" in failing.stdout

    history = repo.anubis("history", "steady", "--output", "json")
    assert history.returncode == 0, history.stderr
    assert len(json.loads(history.stdout)["executions"]) == 9  # 7 + the step + its confirmation

    reset = repo.anubis("baseline", "reset", "steady", "--reason", "new data loader", "--by", "ci")
    assert reset.returncode == 0, reset.stderr and "reset" in reset.stdout
    shown = repo.anubis("baseline", "show", "steady", "--output", "json")
    assert json.loads(shown.stdout)["resets"][0]["reason"] == "new data loader"
    again = repo.anubis("run", "benchmarks/steady", "--output", "json")
    [after] = json.loads(again.stdout)["executions"]
    assert after["verdicts"]["latency"]["verdict"] == "insufficient_data"  # a new baseline starts
    marked = repo.anubis("history", "steady")
    assert "baseline reset" in marked.stdout and "by ci" in marked.stdout


def test_no_confirm_leaves_a_suspected_change_unconfirmed(repo: Repo) -> None:
    _write(repo, speed=100.0, latency=10.0)
    assert repo.anubis("run", "benchmarks/steady", "--repeat", "6").returncode == 0
    _write(repo, speed=140.0, latency=14.0)
    stepped = repo.anubis("run", "benchmarks/steady", "--no-confirm", "--output", "json")
    assert stepped.returncode == 0, stepped.stderr
    [execution] = json.loads(stepped.stdout)["executions"]
    assert execution["verdicts"]["latency"]["verdict"] == "suspected"
    assert "confirmation run" not in stepped.stderr
    failing = repo.anubis("results", "--fail-on-regression")
    assert failing.returncode == 0, failing.stderr  # a suspect fails nothing
