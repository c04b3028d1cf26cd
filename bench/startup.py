"""How fast the everyday commands answer, against ``python -c pass`` and the ``sqlite3`` CLI.

    python bench/startup.py [--repetitions 15] [--runs 3] [--quick]

A temporary benchmarks repository with a no-op benchmark is run ``--runs`` times with ``anubis run``
(so the journal and the result store have something to list, search and show); then each command
below is started as a subprocess, the commands interleaved round by round (so a load change on the
machine hits them all alike), and the median wall-clock time and CPU time (user + system, less
sensitive to a loaded machine) of each is printed with its ratio to ``python -c pass`` (the
interpreter's own start-up, the floor for any Python command):

* ``anubis --help``, ``list``, ``search speed``, ``status``, ``results``, ``validate``;
* ``sqlite3`` on the journal, asking what ``anubis list`` asks (the issue's reference);
* ``python -X importtime`` of each command is summarised too: the modules it imports from the heavy
  set (scipy, numpy, kubernetes, boto3, github, elasticsearch, jsonschema, rich, yaml).

Every command runs as an installed Anubis starts: in a throwaway virtual environment whose
site-packages holds one ``.pth`` file naming this environment's dependencies and the checkout, with
the console script pip writes for ``anubis``. A development (editable) install puts an import finder
in its ``site`` that every start of its interpreter runs, ``python -c pass`` included: about 50 M
instructions (pathlib, urllib.parse, fnmatch) that an installed Anubis never pays, and that inflated
the reference (this bench measured in the development venv until 2026-12-06, which made ``--help``
look like 2.3× where an installation starts it in 4.4×). One more row shows ``python -c pass`` in
the environment the bench was started from, for comparison.

The commands' output goes to /dev/null (not a terminal: the plain console, no rich); one more row
shows ``anubis list`` on a pseudo-terminal (rich's console and table layout). Every child runs with
bytecode caching on, in a temporary ``PYTHONPYCACHEPREFIX``, as an installed Anubis runs (pip
compiles an installation's modules); with ``PYTHONDONTWRITEBYTECODE=1`` and no ``__pycache__`` in
the checkout, every start would compile the project's own modules from source again.

Goal (issue 16): ``anubis --help``, ``list``, ``search``, ``status``, ``results`` each in ≤ 2.5×
``python -c pass`` (printed as ``goal: ... met`` / ``NOT met``; validate is shown, not a goal).

``--instructions`` adds, where valgrind is installed, the instructions each command executes (one
run under callgrind, ``PYTHONHASHSEED=0``) against ``python -c pass``'s: a figure that the load of
a shared machine does not move (wall and CPU times do), for comparing trees and changes. It leaves
out what is not an instruction of the process (starting it, page faults, waiting for the disk), so
its ratios run higher than the wall ones; the goal is judged on wall time.
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]

# the same no-op benchmark bench/run_overhead.py times (run from bench/: its folder is on sys.path)
import run_overhead  # noqa: E402

HEAVY = ("scipy", "numpy", "kubernetes", "boto3", "botocore", "github", "elasticsearch", "jsonschema", "rich", "yaml")
LIST_SQL = (
    "SELECT execution_id, run_id, benchmark, status, updated_at FROM executions ORDER BY started_at DESC LIMIT 20"
)


def make_repo(root: Path) -> None:
    """A repository at ``root`` with bench/run_overhead.py's no-op benchmark."""
    run_overhead.make_repo(root, CHECKOUT)


#: What pip writes as the ``anubis`` console script (pip's ``scripts`` template, by distlib)
CONSOLE_SCRIPT = """#!{python}
import sys
from anubis.cli import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""


def installed_python(folder: Path) -> tuple[str, str]:
    """A virtual environment at ``folder`` that starts as an installation of Anubis does, and its
    ``anubis`` script: (python, script).

    Its site-packages holds a ``.pth`` file with two paths, this interpreter's site-packages (the
    dependencies) and the checkout (the packages). ``site`` adds such a path to ``sys.path`` and
    reads no ``.pth`` file in it, so an editable install's finder there is never run; the packages
    are then found as an installation's are, by the path finder in a folder of ``sys.path``."""
    import sysconfig
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "anubis-bench.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{CHECKOUT}\n", encoding="utf-8")
    script = folder / "bin" / "anubis"
    script.write_text(CONSOLE_SCRIPT.format(python=python), encoding="utf-8")
    script.chmod(0o755)
    return str(python), str(script)


def heavy_imports(command: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """The top-level packages of HEAVY that ``command`` (``python SCRIPT ARGS...``) imports."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    seen = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip().split(".")[0]
            if name in HEAVY:
                seen.add(name)
    return sorted(seen)


def instructions(command: list[str], env: dict[str, str], cwd: Path) -> int | None:
    """The instructions ``command`` executes (valgrind's callgrind, one run, hash seed fixed), or
    None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    done = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        cwd=cwd, env={**env, "PYTHONHASHSEED": "0"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if found else None


def on_terminal(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Run ``command`` with its stdout on a pseudo-terminal (its output read and dropped)."""
    primary, secondary = pty.openpty()

    def drain() -> None:
        try:
            while os.read(primary, 65536):
                pass
        except OSError:  # the terminal's other side closed
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        subprocess.run(command, cwd=cwd, env={**env, "COLUMNS": "200"}, stdout=secondary,
                       stderr=subprocess.DEVNULL, check=False)
    finally:
        os.close(secondary)
        reader.join(timeout=5)
        os.close(primary)


GOALS = ("anubis --help", "anubis list", "anubis search speed", "anubis status", "anubis results")
DEV = "bench's interpreter: "  # the prefix of the rows run in the interpreter the bench was started with
GOAL_RATIO = 2.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3, help="anubis run of the no-op benchmark before measuring")
    parser.add_argument("--quick", action="store_true", help="5 rounds, 2 runs (well under a minute)")
    parser.add_argument("--instructions", action="store_true",
                        help="also count each command's instructions under valgrind (load-independent; ~1 min)")
    args = parser.parse_args()
    if args.quick:
        args.repetitions, args.runs = 5, 2
    with tempfile.TemporaryDirectory(prefix="anubis-bench-") as tmp:
        root = Path(tmp) / "repo"
        make_repo(root)
        data = Path(tmp) / "data"
        env = {k: v for k, v in os.environ.items()
               if k not in ("KUBECONFIG", "PYTHONDONTWRITEBYTECODE", "FORCE_COLOR", "TTY_COMPATIBLE")}
        env.update(ANUBIS_DATA_DIR=str(data), ANUBIS_CACHE_DIR=str(Path(tmp) / "cache"), ANUBIS_CONTAINER_ENGINE="none",
                   PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache"))
        python, script = installed_python(Path(tmp) / "venv")
        anubis = [python, script]
        for _ in range(args.runs):
            subprocess.run(
                [*anubis, "run", "benchmarks/noop"], cwd=root, env=env, check=True, capture_output=True
            )
        commands: dict[str, list[str]] = {
            "python -c pass": [python, "-c", "pass"],
            # the command-line library alone (click, by the brief): what every command pays before its own work
            "python -c 'import click'": [python, "-c", "import click"],
            "anubis --help": [*anubis, "--help"],
            "anubis list": [*anubis, "list"],
            "anubis search speed": [*anubis, "search", "speed"],
            "anubis status": [*anubis, "status"],
            "anubis results": [*anubis, "results"],
            "anubis validate": [*anubis, "validate", "--env", "local", "benchmarks/noop"],
        }
        sqlite = shutil.which("sqlite3")
        if sqlite:
            commands["sqlite3 (list's query)"] = [sqlite, str(data / "journal.sqlite3"), LIST_SQL]
        extra = {"anubis list, on a terminal": [*anubis, "list"]}  # rich's console and table
        # The same in the interpreter the bench was started with: in a development (editable) venv,
        # its finder runs at every start, the reference's too; the issue measured its goal there.
        dev_script = Path(sys.executable).parent / "anubis"
        dev_anubis = [sys.executable, str(dev_script)] if dev_script.is_file() else [sys.executable, "-m", "anubis"]
        development = {"python -c pass": [sys.executable, "-c", "pass"],
                       **{name: [*dev_anubis, *commands[name][2:]] for name in GOALS}}
        every = {**commands, **{DEV + name: command for name, command in development.items()}}
        for name, command in every.items():  # warm up (page cache, .pyc files) and check they work
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{name} failed ({done.returncode}): {done.stderr.strip()}")
        timings: dict[str, list[float]] = {name: [] for name in [*every, *extra]}
        cpu: dict[str, list[float]] = {name: [] for name in timings}

        def measure(name: str, action: Callable[[], object]) -> None:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            action()
            timings[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

        for _ in range(args.repetitions):
            for name, command in every.items():
                measure(name, lambda c=command: subprocess.run(c, cwd=root, env=env, stdout=subprocess.DEVNULL,
                                                               stderr=subprocess.DEVNULL, check=False))
            for name, command in extra.items():
                measure(name, lambda c=command: on_terminal(c, root, env))
        floor = statistics.median(timings["python -c pass"])
        cpu_floor = statistics.median(cpu["python -c pass"])
        print(f"median of {args.repetitions} interleaved runs each, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        print("as installed (a venv without an editable finder; ratios to its python -c pass):")
        print(f"  {'command':<28} {'wall ms':>8} {'×':>6} {'CPU ms':>8} {'×':>6}   heavy modules imported")
        for name in [*commands, *extra]:
            wall, used = statistics.median(timings[name]), statistics.median(cpu[name])
            command = commands[name] if name in commands else extra[name]
            shown = name.startswith("anubis") and name in commands
            heavy = ", ".join(heavy_imports(command, env, root)) if shown else ""
            goal = f" (goal ≤ {GOAL_RATIO}×)" if name in GOALS else ""
            print(f"  {name:<28} {wall * 1000:8.1f} {wall / floor:5.2f}× {used * 1000:8.1f} {used / cpu_floor:5.2f}×"
                  f"{goal}   {heavy}")
        dev_floor = statistics.median(timings[DEV + "python -c pass"])
        print(f"in the bench's own interpreter ({sys.prefix}; ratios to its python -c pass):")
        for name in development:
            wall = statistics.median(timings[DEV + name])
            print(f"  {name:<28} {wall * 1000:8.1f} {wall / dev_floor:5.2f}×")
        if args.instructions:
            counts = {name: instructions(command, env, root) for name, command in every.items()
                      if not name.startswith("sqlite3")}
            floor_count = counts["python -c pass"]
            if floor_count is None:
                print("instructions: valgrind is not installed")
            else:
                print("instructions executed (valgrind --tool=callgrind, one run each, PYTHONHASHSEED=0; "
                      "ratios to the installed python -c pass):")
                for name, count in counts.items():
                    shown = f"{count / 1e6:8.1f} M {count / floor_count:5.2f}×" if count else "  (failed)"
                    print(f"  {name:<40} {shown}")
        for name in GOALS:
            ratio = statistics.median(timings[name]) / floor
            dev_ratio = statistics.median(timings[DEV + name]) / dev_floor
            print(f"goal: {name} in ≤ {GOAL_RATIO}× python -c pass (wall), as installed: {ratio:.2f}× — "
                  f"{'met' if ratio <= GOAL_RATIO else 'NOT met'} (in the bench's interpreter: {dev_ratio:.2f}×)")
        click_only = statistics.median(timings["python -c 'import click'"]) - floor
        print(f"note: importing click alone adds {click_only * 1000:.1f} ms ({click_only / floor:.2f}× python -c pass) "
              f"of the {(GOAL_RATIO - 1) * floor * 1000:.1f} ms a command may add to stay within {GOAL_RATIO}×")
        finder = dev_floor - floor
        if finder > 0.002:
            print(f"note: the bench's interpreter starts {finder * 1000:.1f} ms slower than the installed one "
                  f"(an editable install's import finder, run by site at every start)")

if __name__ == "__main__":
    main()
