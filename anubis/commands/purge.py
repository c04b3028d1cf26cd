"""``anubis purge RUN_ID --yes``: forget a local execution: its kept files, its journal rows and its
stored result."""

from __future__ import annotations

import shutil
import sqlite3
import sys

import click

from anubis.local_runs import close_runs, local_runs
from anubis.settings import Settings
from controller.local.journaling import RunView
from controller.sqlite_store.schema import connect
from schemas.errors import BackendError, StoreError

CLUSTER_PURGE = (
    "{execution} ran on a cluster, and `anubis purge` forgets only local runs. On a cluster: a run's "
    "Job goes when its manifest is removed from Git (Argo CD prunes it; deleting it by hand is undone "
    "by the next sync); its exported logs expire with the Elasticsearch index lifecycle; its result "
    "stays in the environment's result store (S3), where the bucket's lifecycle rules decide."
)


@click.command()
@click.argument("run_id", metavar="RUN_ID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask: purge.")
@click.pass_obj
def purge(settings: Settings, run_id: str, yes: bool) -> None:
    """Remove every trace of a finished local execution: its folder (kept logs, metrics file,
    RunSpec), its status history and indexed log lines in the journal, and its stored result.

    RUN_ID is an execution id, or a run id or prefix (its latest execution). A run in progress is
    refused: cancel it first (`anubis cancel`).
    """
    runs = local_runs(settings)
    try:
        view = runs.find(run_id)
        if view.backend != "local":
            raise BackendError(CLUSTER_PURGE.format(execution=view.execution_id))
        if view.active:
            raise BackendError(f"{view.execution_id} is still running; cancel it first (`anubis cancel {view.execution_id}`).")
        folder = settings.data_dir / "executions" / view.execution_id
        if not yes:
            if not sys.stdin.isatty():
                raise BackendError(f"purging {view.execution_id} cannot be undone; add --yes to confirm it.")
            click.confirm(_describe(view, folder.exists()), abort=True)
        if folder.exists():
            shutil.rmtree(folder)
        journaled = runs.journal.purge(view.execution_id) if runs.journal is not None else False
        stored = _delete_result(settings, view.execution_id)
    finally:
        close_runs(runs)
    removed = [what for what, done in (("kept files", True), ("journal", journaled), ("stored result", stored)) if done]
    click.echo(f"purged {view.execution_id} ({', '.join(removed)})")


def _describe(view: RunView, has_folder: bool) -> str:
    return (
        f"Purge {view.execution_id} ({view.benchmark}, {view.status.value})"
        + (", its kept log" if has_folder else "")
        + ", its status history and indexed lines, and its stored result?"
    )


def _delete_result(settings: Settings, execution_id: str) -> bool:
    """Delete one execution from the SQLite result store (its metric rows go with it: ON DELETE
    CASCADE). The store's interface has no delete; a result is otherwise never removed."""
    if not settings.store_path.exists():
        return False
    conn = connect(settings.store_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        deleted = conn.execute("DELETE FROM runs WHERE execution_id = ?", (execution_id,)).rowcount
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(f"Could not remove {execution_id} from the result store {settings.store_path}: {e}.") from e
    finally:
        conn.close()
    return bool(deleted)
