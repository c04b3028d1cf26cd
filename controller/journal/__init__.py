"""The journal: what happened to every execution, and a full-text index of what it printed.

One SQLite file, ``<data_dir>/journal.sqlite3``, beside the result store but separate from it (the
store keeps one finished record per execution; the journal is written *while* an execution runs):

* ``executions`` — one row per execution: its identity (execution id, run id, benchmark,
  environment, backend, source commit) and its latest status, reason and times;
* ``transitions`` — the status history: every status an execution went through, with its sentence
  (why it is pending, which container failed and how) and the time;
* ``log_chunks`` — every line of output, by execution and stream (``output``, ``server``, or a
  cluster's ``pod/container``), as chunks: runs of whole lines stored as one row, numbered from their
  first line (1-based, counted as the kept log counts them), with the time they arrived
  (:mod:`~controller.journal.chunks`);
* ``log_text`` — a contentless FTS5 index of those lines, a row per piece of 100 lines of a chunk,
  filled in bulk when a search needs it (:mod:`~controller.journal.indexing`).

A search asks ``log_text`` (``MATCH``) for the pieces and then picks, in each, the lines the query
matches (:mod:`~controller.journal.search`): a hit is a line, as if each line had a row of its own.
Writers store chunks (:meth:`Journal.add_chunks`, one transaction per batch). Several processes use
the file at once (``anubis run`` writing, ``anubis status --watch`` and ``anubis logs --follow``
reading, ``anubis search`` indexing): WAL mode, ``BEGIN IMMEDIATE`` for writes and a busy timeout,
as the result store.

The schema is versioned with ``PRAGMA user_version``; :data:`~controller.journal.schema.MIGRATIONS` lists
the steps, applied in order when the journal is opened.
"""

from __future__ import annotations

from pathlib import Path

from controller.journal.entries import (
    ExecutionInfo,
    JournalEntry,
    LogRow,
    SearchHit,
    SearchResult,
    Transition,
)
from controller.journal.reading import JournalReading
from controller.journal.schema import journal_path
from controller.journal.search import JournalSearch, quote_query
from controller.journal.writing import JournalWriting


class Journal(JournalWriting, JournalReading, JournalSearch):
    """The journal file at ``path`` (created, with its folder). Thread-safe; use it as a context
    manager or call :meth:`close`. Its connection is :class:`~controller.journal.connection.JournalConnection`;
    what it writes, reads and searches is in :mod:`~controller.journal.writing`,
    :mod:`~controller.journal.reading` and :mod:`~controller.journal.search`."""


def open_journal(data_dir: Path) -> Journal | None:
    """The journal under ``data_dir`` for reading, or ``None`` when nothing was journaled there yet."""
    path = journal_path(data_dir)
    return Journal(path) if path.exists() else None


__all__ = [
    "ExecutionInfo",
    "Journal",
    "JournalEntry",
    "LogRow",
    "SearchHit",
    "SearchResult",
    "Transition",
    "journal_path",
    "open_journal",
    "quote_query",
]
