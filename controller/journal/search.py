"""Searching the journal's full-text index of log lines (FTS5), falling back to plain words when a
query is not valid FTS5 syntax."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from controller.journal.entries import SearchHit, SearchResult
from controller.journal.indexing import JournalIndexing
from schemas.errors import NotFoundError, StoreError

log = logging.getLogger(__name__)


def quote_query(text: str) -> str:
    """``text`` as FTS5 phrases, one per whitespace-separated word: every word must appear,
    whatever characters it holds (``"out-of-memory" "rc=137"``)."""
    words = text.split()
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


FTS_ERROR = re.compile(r"fts5|syntax error|no such column|unterminated|unknown special query", re.IGNORECASE)


class JournalSearch(JournalIndexing):
    """How a :class:`~controller.journal.Journal` searches its lines."""

    def _search_sql(
        self, *, benchmark: str | None, run: str | None, since: float | None
    ) -> tuple[str, list[Any]]:
        where = ["log_index MATCH ?"]
        args: list[Any] = []
        if benchmark is not None:
            where.append("e.benchmark = ?")
            args.append(benchmark)
        if run is not None:
            where.append("(e.execution_id = ? OR e.run_id = ?)")
            args.extend([run, run])
        if since is not None:
            where.append("l.at >= ?")
            args.append(since)
        sql = (
            "SELECT e.execution_id, e.run_id, e.benchmark, l.stream, l.line, l.at, l.text "
            "FROM log_index JOIN log_lines AS l ON l.id = log_index.rowid "
            "JOIN executions AS e ON e.id = l.execution "
            f"WHERE {' AND '.join(where)} ORDER BY log_index.rowid DESC LIMIT ?"
        )
        return sql, args

    def search(
        self,
        query: str,
        *,
        benchmark: str | None = None,
        run: str | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> SearchResult:
        """Lines matching ``query`` (FTS5 syntax), newest first. Input that is not valid FTS5 is
        searched for as plain words (:func:`quote_query`) rather than failing. Lines still in chunks
        are indexed first (lazily: the first search after a chatty run pays for its lines, in bulk)."""
        if not query.strip():
            raise NotFoundError("Give something to search for.")
        try:
            self.index_pending()
        except StoreError as e:
            log.warning("could not index the newest log lines (%s); searching the lines indexed before", e)
        sql, args = self._search_sql(benchmark=benchmark, run=run, since=since)
        try:
            return SearchResult(self._hits(sql, [query, *args, limit]), query, False)
        except sqlite3.OperationalError as e:
            if not FTS_ERROR.search(str(e)):
                raise StoreError(f"The journal {self.path} could not be searched: {e}.") from e
            log.debug("%r is not an FTS5 query (%s); searching for its words", query, e)
        quoted = quote_query(query)
        try:
            return SearchResult(self._hits(sql, [quoted, *args, limit]), quoted, True)
        except sqlite3.Error as e:
            raise StoreError(f"The journal {self.path} could not be searched for {quoted}: {e}.") from e

    def _hits(self, sql: str, args: Sequence[Any]) -> list[SearchHit]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"The journal {self.path} is closed; open it again to use it.")
            rows = self._conn.execute(sql, args).fetchall()  # autocommit: one statement, one snapshot
        return [SearchHit(*r) for r in rows]

    def explain_search(self, query: str, **filters: Any) -> list[str]:
        """The query plan of :meth:`search` (what ``bench/search.py`` shows)."""
        sql, args = self._search_sql(
            benchmark=filters.get("benchmark"), run=filters.get("run"), since=filters.get("since")
        )
        with self._transaction(write=False) as conn:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", [query, *args, 50]).fetchall()
        return [str(r[-1]) for r in rows]
