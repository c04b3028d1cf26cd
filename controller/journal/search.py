"""Searching the journal's full-text index of log lines (FTS5), falling back to plain words when a
query is not valid FTS5 syntax.

The index holds pieces of :data:`~controller.journal.chunks.PIECE_LINES` lines
(:mod:`controller.journal.chunks`); a line is a hit when the query matches *that line*, as if each
line were a row of its own. A search therefore runs in two steps:

1. the index gives the pieces the query matches, newest first (filtered by benchmark, run and time
   through the chunk that holds each);
2. each piece's lines are put in a small in-memory FTS5 table with the same tokenizer, and the same
   query picks the lines it matches there — so a hit is exactly what a row-per-line index would give,
   whatever the query's syntax (phrases, ``NEAR``, prefixes, column filters).

Step 1 never misses a line for a query built of words, phrases, prefixes, ``NEAR``, ``AND`` and
``OR``: a piece holds every word of each of its lines. ``NOT`` and ``^`` (a phrase at the start of
the text) are different — a line can match ``a NOT b`` in a piece where another line holds ``b``, and
a line starts where its piece does not — so the index is asked the query without them
(:func:`piece_query`: ``NOT`` with its operand left out, ``^`` dropped), which every piece holding a
matching line matches; step 2 then applies the whole query. A query of a shape :func:`piece_query`
does not know reads every piece, newest first, until it has its hits (exact, at a scan's speed).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from controller.journal.chunks import PIECE_LINES, chunk_lines, line_text, row_piece
from controller.journal.entries import SearchHit, SearchResult
from controller.journal.indexing import JournalIndexing
from controller.journal.schema import TOKENIZER
from controller.lazy_logging import ModuleLogger
from schemas.errors import NotFoundError, StoreError

log = ModuleLogger(__name__)  # logging imported on the first message


def quote_query(text: str) -> str:
    """``text`` as FTS5 phrases, one per whitespace-separated word: every word must appear,
    whatever characters it holds (``"out-of-memory" "rc=137"``)."""
    words = text.split()
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


FTS_ERROR = r"fts5|syntax error|no such column|unterminated|unknown special query"  # (ignoring case)
# FTS5's query syntax outside strings: a string, a bareword (where NOT is the operator), or another
# character (sqlite.org/fts5.html, 3.1 and 3.8)
_QUERY_TOKEN = r'"(?:[^"]|"")*"?|[\w\x1a\u0080-\U0010ffff]+|.'
_BAREWORD = r"[\w\x1a\u0080-\U0010ffff]+"


@cache
def _pattern(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``pattern`` compiled on first use: the two barewords' classes take ~3 ms each to compile, which
    a search of plain words (and every other command importing the journal) need not pay."""
    return re.compile(pattern, flags)


def piece_query(query: str) -> str | None:
    """What to ask the index of pieces for ``query``: the query itself, or for one with ``NOT`` or
    ``^`` (see the module's docstring) the query without them — each ``NOT`` with the operand after
    it (a phrase, ``NEAR(…)`` or a parenthesised group, with its column filter), each ``^`` alone —
    which matches every piece holding a line the query matches. ``None`` when that cannot be made:
    then every piece is read."""
    if "NOT" not in query and "^" not in query:  # neither can be a token: no need to tokenise
        return query
    tokens = [(m.start(), m.end(), m.group()) for m in _pattern(_QUERY_TOKEN, re.DOTALL).finditer(query)]
    if not any(t in ("NOT", "^") for _, _, t in tokens):
        return query
    words = [i for i, (_, _, t) in enumerate(tokens) if not t.isspace()]  # positions of the non-blank
    drop: set[int] = set()  # indexes into tokens
    k = 0
    while k < len(words):
        text = tokens[words[k]][2]
        if text == "^":
            drop.add(words[k])
        elif text == "NOT":
            end = _operand_end(tokens, words, k + 1)
            if end is None:
                return None
            drop.update(range(words[k], words[end - 1] + 1))
            k = end
            continue
        k += 1
    kept = "".join(t for i, (_, _, t) in enumerate(tokens) if i not in drop).strip()
    return kept or None


def _operand_end(tokens: list[tuple[int, int, str]], words: list[int], k: int) -> int | None:
    """The position in ``words`` just past the operand of ``NOT`` that starts at ``words[k]``: a
    parenthesised group or a ``NEAR`` group, or phrases side by side (their implicit AND binds
    tighter than ``NOT``: ``a NOT b c`` is ``a NOT (b c)``). ``None`` for any other shape."""

    def text(at: int) -> str | None:
        return tokens[words[at]][2] if at < len(words) else None

    def column_filter(at: int) -> int:
        """Past a column filter (``col:``, ``-col:``, ``{cols}:``, ``-{cols}:``) at ``at``, if any."""
        start = at + 1 if text(at) == "-" else at
        if text(start) == "{":
            close = start
            while text(close) not in (None, "}"):
                close += 1
            return close + 2 if text(close) == "}" and text(close + 1) == ":" else at
        return start + 2 if _is_word(text(start)) and text(start + 1) == ":" else at

    def phrase_end(at: int) -> int | None:
        at = column_filter(at)
        if text(at) == "^":
            at += 1
        if not _is_word(text(at)):
            return None
        at += 1
        while True:  # word [*] (+ word [*])…
            if text(at) == "*":
                at += 1
            if text(at) == "+" and _is_word(text(at + 1)):
                at += 2
                continue
            return at

    group = column_filter(k)
    if text(group) == "(" or (text(group) == "NEAR" and text(group + 1) == "("):
        depth = 0
        while (t := text(group)) is not None:
            if t == "(":
                depth += 1
            elif t == ")":
                depth -= 1
                if depth == 0:
                    return group + 1
            group += 1
        return None
    end = phrase_end(k)
    while end is not None and text(end) not in (None, "AND", "OR", "NOT", ")"):
        end = phrase_end(end)
    return end


def _is_word(token: str | None) -> bool:
    return token is not None and (token.startswith('"') or bool(_pattern(_BAREWORD).fullmatch(token))) and token not in (
        "AND", "OR", "NOT", "NEAR"
    )


class _Lines:
    """The in-memory FTS5 table that picks, from one piece's lines, those a query matches."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn.execute(f"CREATE VIRTUAL TABLE piece USING fts5(text, tokenize='{TOKENIZER}')")

    def check(self, query: str) -> None:
        """Raise :class:`sqlite3.OperationalError` when ``query`` is not valid FTS5."""
        self._conn.execute("SELECT rowid FROM piece WHERE piece MATCH ?", (query,)).fetchall()

    def matching(self, query: str, lines: Sequence[str]) -> list[int]:
        """The positions in ``lines`` of the lines ``query`` matches, last first."""
        self._conn.execute("BEGIN")
        try:
            self._conn.execute("DELETE FROM piece")
            self._conn.executemany("INSERT INTO piece (rowid, text) VALUES (?, ?)", enumerate(lines))
            rows = self._conn.execute(
                "SELECT rowid FROM piece WHERE piece MATCH ? ORDER BY rowid DESC", (query,)
            ).fetchall()
        finally:
            self._conn.execute("ROLLBACK")
        return [int(r[0]) for r in rows]

    def close(self) -> None:
        self._conn.close()


class JournalSearch(JournalIndexing):
    """How a :class:`~controller.journal.Journal` searches its lines."""

    def _filters(
        self, *, benchmark: str | None, run: str | None, since: float | None
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if benchmark is not None:
            where.append("e.benchmark = ?")
            args.append(benchmark)
        if run is not None:
            where.append("(e.execution_id = ? OR e.run_id = ?)")
            args.extend([run, run])
        if since is not None:
            where.append("c.at >= ?")
            args.append(since)
        return where, args

    def _pieces_sql(self, *, every_piece: bool, benchmark: str | None, run: str | None,
                    since: float | None) -> tuple[str, list[Any]]:
        """The pieces to read, newest first: ``(index row or NULL, chunk id)``."""
        where, args = self._filters(benchmark=benchmark, run=run, since=since)
        if every_piece:
            return (
                "SELECT NULL, c.id FROM log_chunks AS c JOIN executions AS e ON e.id = c.execution "
                f"WHERE {' AND '.join(['1', *where])} ORDER BY c.id DESC",
                args,
            )
        return (
            "SELECT t.rowid, c.id FROM log_text AS t "
            "JOIN log_chunks AS c ON c.id = (t.rowid >> 24) JOIN executions AS e ON e.id = c.execution "
            f"WHERE {' AND '.join(['log_text MATCH ?', *where])} ORDER BY t.rowid DESC",
            args,
        )

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
        searched for as plain words (:func:`quote_query`) rather than failing. Chunks waiting to be
        indexed are indexed first (:mod:`controller.journal.indexing`)."""
        if not query.strip():
            raise NotFoundError("Give something to search for.")
        try:
            self.index_pending()
        except StoreError as e:
            log.warning("could not index the newest log lines (%s); searching the lines indexed before", e)
        lines = _Lines()
        try:
            quoted = False
            try:
                lines.check(query)
            except sqlite3.OperationalError as e:
                if not _pattern(FTS_ERROR, re.IGNORECASE).search(str(e)):
                    raise StoreError(f"The journal {self.path} could not be searched: {e}.") from e
                log.debug("%r is not an FTS5 query (%s); searching for its words", query, e)
                query, quoted = quote_query(query), True
            try:
                hits = self._hits(lines, query, benchmark=benchmark, run=run, since=since, limit=limit)
            except sqlite3.Error as e:
                raise StoreError(f"The journal {self.path} could not be searched for {query}: {e}.") from e
            return SearchResult(hits, query, quoted)
        finally:
            lines.close()

    def _hits(self, lines: _Lines, query: str, *, benchmark: str | None, run: str | None, since: float | None,
              limit: int) -> list[SearchHit]:
        pieces_query = piece_query(query)
        if pieces_query is not None and pieces_query != query:
            try:
                lines.check(pieces_query)
            except sqlite3.OperationalError:
                log.debug("no query for the pieces of %r; reading every piece", query)
                pieces_query = None
        every_piece = pieces_query is None
        sql, args = self._pieces_sql(every_piece=every_piece, benchmark=benchmark, run=run, since=since)
        hits: list[SearchHit] = []
        with self._transaction(write=False) as conn:  # one snapshot
            for chunk, pieces in self._chunks(conn, sql, ([] if every_piece else [pieces_query]) + args, every_piece):
                execution_id, run_id, bench, stream, first_line, at, data = chunk
                texts = chunk_lines(data)
                for piece in pieces:
                    start = piece * PIECE_LINES
                    found = lines.matching(query, [line_text(t) for t in texts[start : start + PIECE_LINES]])
                    for offset in found:
                        text = line_text(texts[start + offset])
                        hits.append(SearchHit(execution_id, run_id, bench, stream, first_line + start + offset, at, text))
                        if len(hits) >= limit:
                            return hits
        return hits

    def _chunks(
        self, conn: sqlite3.Connection, sql: str, args: list[Any], every_piece: bool
    ) -> Iterator[tuple[tuple[Any, ...], list[int]]]:
        """Each chunk to read, newest first, with its pieces to read, last first."""

        def read(chunk_id: int, pieces: list[int]) -> tuple[tuple[Any, ...], list[int]]:
            chunk = self._chunk(conn, chunk_id)
            if every_piece:
                count = -(-len(chunk_lines(chunk[6])) // PIECE_LINES)
                pieces = list(range(count - 1, -1, -1))
            return chunk, pieces

        cursor = conn.execute(sql, args)
        try:
            current: int | None = None
            pieces: list[int] = []
            for row, chunk_id in cursor:
                if current is not None and chunk_id != current:
                    yield read(current, pieces)
                    pieces = []
                current = chunk_id
                if row is not None:
                    pieces.append(row_piece(row)[1])
            if current is not None:
                yield read(current, pieces)
        finally:
            cursor.close()

    @staticmethod
    def _chunk(conn: sqlite3.Connection, chunk_id: int) -> tuple[Any, ...]:
        row = conn.execute(
            "SELECT e.execution_id, e.run_id, e.benchmark, c.stream, c.first_line, c.at, c.data "
            "FROM log_chunks AS c JOIN executions AS e ON e.id = c.execution WHERE c.id = ?",
            (chunk_id,),
        ).fetchone()
        return tuple(row)

    def explain_search(self, query: str, **filters: Any) -> list[str]:
        """The query plan of :meth:`search`'s first step (what ``bench/search.py`` shows)."""
        pieces_query = piece_query(query)
        sql, args = self._pieces_sql(every_piece=pieces_query is None, benchmark=filters.get("benchmark"),
                                     run=filters.get("run"), since=filters.get("since"))
        with self._transaction(write=False) as conn:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", ([] if pieces_query is None else [pieces_query]) + args).fetchall()
        return [str(r[-1]) for r in rows]
