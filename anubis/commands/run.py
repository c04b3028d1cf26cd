"""``anubis run DESCRIPTOR_OR_DIR``: run a benchmark on this machine (the embedded default backend)."""

from __future__ import annotations

import codecs
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from anubis.judging import confirmation_runs, judge_stored
from anubis.presenting.output import OutputFormat, emit_json, make_console, rich_console
from anubis.presenting.results import result_document, show_result
from anubis.presenting.terminal_text import TerminalText
from anubis.project import GitSources, find_repository, load_project
from anubis.settings import Settings
from controller.fetching import default_s3_client_factory
from controller.journal import Journal, journal_path
from controller.local.cancellation import Cancellation, signals_cancel
from controller.local.containers import detect_engine
from controller.local.journaling import JournalTap
from controller.local.lifeline import enable_subreaper
from controller.local.registry import CANCEL_REASON
from controller.local.runner import LocalConfig, LocalRunner
from controller.sqlite_store import SqliteResultStore
from renderer.environments import load_environment
from renderer.planning import DESCRIPTOR_NAME, Catalog, check_descriptor, find_descriptors
from schemas.errors import BackendError
from schemas.results import ResultRecord
from schemas.runspec import RunSpec
from schemas.status import RunStatus

if TYPE_CHECKING:  # rich's live display only on a terminal
    from collections.abc import Mapping

    from rich.console import Console
    from rich.status import Status

    from controller.baselines import Judgement

EXIT_INTERRUPTED = 130


@click.command()
@click.argument("target", type=click.Path(exists=True, path_type=Path), metavar="DESCRIPTOR_OR_DIR")
@click.option("--env", "environment", default="local", show_default=True, help="The environment (environments/<name>.toml).")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="Override a descriptor field (repeatable).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True, help="Run each point N times.")
@click.option("--confirm/--no-confirm", default=True, show_default=True,
              help="Repeat the benchmark when a metric's change is only suspected (policy `confirm`).")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: for people; json: one JSON object on stdout (the benchmark's output goes to stderr).")
@click.pass_obj
def run(
    settings: Settings, target: Path, environment: str, overrides: tuple[str, ...], repeat: int, confirm: bool,
    output: OutputFormat,
) -> None:
    """Run the benchmark of DESCRIPTOR_OR_DIR on this machine, show its metrics and store its results.

    Exits 0 only when every execution SUCCEEDED (130 after Ctrl-C).
    """
    root = settings.repository_for(target)
    env = load_environment(root, environment)
    if env.kind != "local":
        raise BackendError(
            f"`anubis run` runs on this machine, and {environment!r} is a {env.kind} environment; its runs start "
            "when their manifests are merged and synced (see `anubis render`). Use --env local to try it here."
        )
    specs = plan_local_runs(target.resolve(), root, environment, overrides)
    if not specs:
        raise BackendError(f"{target} holds no benchmark to run (no {DESCRIPTOR_NAME} found)")
    cancellation = Cancellation()
    config = LocalConfig(
        repo_root=_own_repository(target, root),
        data_dir=settings.data_dir,
        cache_dir=settings.cache_dir,
        engine=detect_engine(os.environ.get("ANUBIS_CONTAINER_ENGINE")),
        s3_client_factory=default_s3_client_factory(os.environ.get("AWS_ENDPOINT_URL")),
    )
    observer = TerminalObserver(json_output=output == "json")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    enable_subreaper()  # a benchmark's orphaned descendants stay ours to stop and reap (controller.local.lifeline)
    records: list[ResultRecord] = []
    with (
        SqliteResultStore(settings.store_path) as store,
        JournalTap(Journal(journal_path(settings.data_dir)), owns_journal=True) as tap,
    ):
        runner = LocalRunner(config, store=store, observer=observer, cancellation=cancellation, taps=[tap])
        judged: dict[str, Mapping[str, Judgement]] = {}  # execution id -> verdicts, judged once (shown below)

        def judged_confirmations(record: ResultRecord) -> int:
            judged[record.execution_id] = judge_stored(settings, store, record)
            return confirmation_runs(settings, store, record, judged[record.execution_id])

        for spec in specs:
            runner.preflight(spec)
        with signals_cancel(cancellation, lambda: runner.current, runner.registry.cancel_requested, CANCEL_REASON):
            with observer.live():
                for index, spec in enumerate(specs, start=1):
                    for attempt in range(1, repeat + 1):
                        if cancellation.should_skip(spec.run_id):
                            break
                        observer.begin(_describe(spec, index, len(specs), attempt, repeat))
                        records.append(runner.run(spec))
                    confirming = judged_confirmations(records[-1]) if confirm and records else 0
                    for attempt in range(1, confirming + 1):
                        if cancellation.should_skip(spec.run_id):
                            break
                        observer.begin(f"{spec.benchmark}: a change is suspected — confirmation run {attempt}/{confirming}")
                        records.append(runner.run(spec))
                        if judged_confirmations(records[-1]) == 0:
                            break
    observer.finish(records, judged)
    if cancellation.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if not records or any(r.status is not RunStatus.SUCCEEDED for r in records):
        sys.exit(1)


def _own_repository(target: Path, root: Path) -> Path:
    """The folder the runner takes the source's git facts from: the repository the descriptor is in
    (--repo when it is inside it), never a --repo that merely lends its environments."""
    resolved = target.resolve()
    if resolved == root or root in resolved.parents:
        return root
    return find_repository(resolved) or (resolved if resolved.is_dir() else resolved.parent)


def plan_local_runs(target: Path, root: Path, environment: str, overrides: tuple[str, ...]) -> list[RunSpec]:
    """The RunSpecs of every descriptor under ``target``, each with the source of the git repository
    that holds it (its commit, dirty when it or its scripts have uncommitted changes)."""
    catalog = Catalog(root)
    sources = GitSources(root, load_project(root))
    specs: list[RunSpec] = []
    for descriptor in find_descriptors([target], root):
        planned = check_descriptor(
            descriptor, repo_root=root, environment=environment, overrides=overrides,
            source=sources.source_for(descriptor.parent), catalog=catalog,
        )
        specs.extend(planned.runs)
    return specs


def _describe(spec: RunSpec, index: int, total: int, attempt: int, repeat: int) -> str:
    parts = [spec.benchmark]
    if total > 1:
        point = ", ".join(f"{k}={v}" for k, v in spec.matrix_point.items())
        parts.insert(0, f"point {index}/{total}:")
        if point:
            parts.append(f"({point})")
    if repeat > 1:
        parts.append(f"repeat {attempt}/{repeat}")
    return " ".join(parts)


class TerminalObserver:
    """Streams the benchmark's output as it comes, with a status line when on a terminal."""

    def __init__(self, *, json_output: bool) -> None:
        self.json_output = json_output
        self.interactive = not json_output and sys.stdout.isatty() and sys.stderr.isatty()
        self.console: Console | None = rich_console(sys.stdout) if self.interactive else None
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # on a terminal, the benchmark's escape sequences are not obeyed (anubis.presenting.terminal_text)
        self.terminal = TerminalText() if (sys.stderr if json_output else sys.stdout).isatty() else None
        self.lock = threading.Lock()
        self.label = ""
        self.state = ""
        self.since = time.monotonic()
        self.spinner: Status | None = None
        self.said: set[str] = set()

    def live(self) -> Any:
        if self.console is not None:
            self.spinner = self.console.status("", spinner="dots")
            return self.spinner
        return _Nothing()

    def begin(self, label: str) -> None:
        self.label = label
        self.line(f"▶ {label}")

    def line(self, text: str) -> None:
        with self.lock:
            self._flush_text()
            if self.console is not None:
                self.console.print(text, highlight=False, markup=False)
            else:
                print(f"[anubis] {text}", file=sys.stderr, flush=True)

    def status(self, execution_id: str, status: RunStatus, detail: str) -> None:
        self.state = status.value
        self.since = time.monotonic()
        if self.spinner is not None:
            self.spinner.update(f"{self.label} · {status.value}{' · ' + detail if detail else ''} · {execution_id}")
        if status.is_final:
            self.line(f"{status.value}: {execution_id}{' — ' + detail if detail else ''}")
        elif not self.interactive:
            self.line(f"{status.value}{': ' + detail if detail else ''} ({execution_id})")

    @property
    def stream(self) -> IO[str]:
        """stdout, or stderr when stdout carries the JSON document (looked up each time: a live
        status display replaces ``sys.stdout`` while it runs)."""
        return sys.stderr if self.json_output else sys.stdout

    def output(self, chunk: bytes) -> None:
        text = self.decoder.decode(chunk)
        if self.terminal is not None:
            text = self.terminal.feed(text)
        if text:
            with self.lock:
                self.stream.write(text)
                self.stream.flush()

    def _flush_text(self) -> None:
        rest = self.decoder.decode(b"", final=True)
        if self.terminal is not None:
            rest = self.terminal.feed(rest) + self.terminal.flush()
        if rest:
            self.stream.write(rest)
        self.decoder.reset()

    def notice(self, message: str) -> None:
        if message not in self.said:
            self.said.add(message)
            self.line(f"note: {message}")

    def finish(self, records: list[ResultRecord], judged: Mapping[str, Mapping[str, Judgement]]) -> None:
        """The results, with the verdicts in ``judged`` (execution id -> verdicts; judged here if absent)."""
        with self.lock:
            self._flush_text()
            self.stream.flush()
        if self.json_output:
            emit_json({"executions": [result_document(r, judged.get(r.execution_id)) for r in records]})
            return
        console = make_console()
        for record in records:
            console.print()
            show_result(console, record, judged.get(record.execution_id))


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
