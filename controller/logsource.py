"""Reading a run's log: a local execution's kept gzip files, a cluster run's pods or archive.

Local (:class:`LocalLogs`): ``<data_dir>/executions/<execution_id>/<stream>.log.gz`` (``output``,
and ``server`` for inference), read in constant memory whatever their size: the file is inflated in
slices of at most :data:`OUT_SIZE` bytes and written out as it comes; ``tail`` keeps the last lines
in a bounded deque. A gzip file that is still being written is read as far as it is complete
(:class:`GzipReader` never waits for the end of the stream).

Following a run in progress: the compressor holds back up to some tens of KiB of output before it
writes a block, so the gzip file alone lags behind a slow benchmark. The journal's index has every
line within a second (numbered per stream as the file numbers them), so a follower prints the file's
lines, then the journal's lines past them, and once the execution is over, whatever the file holds
past what was printed. Lines are never printed twice or skipped: the line number decides.

Cluster runs: :class:`ClusterLogs` (the pods' logs while they exist; implemented by
:class:`controller.kubernetes.podlogs.KubernetesLogs`, following with ``follow=true`` streams) and
:class:`ArchivedLogs` (what the Elasticsearch exporter indexed, afterwards) are the interfaces the
commands use; :class:`ElasticsearchLogs` implements the second with the official client, paging with
``search_after``, and answers ``anubis search --elasticsearch``. :func:`label_of` names a line's
``pod/container`` on the terminal (``[worker-1]``, ``[launcher]``, ``[client]``, ``[server]``).
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from controller.exporting.base import LogLine
from controller.journal import Journal, SearchHit, SearchResult
from schemas.errors import BackendError, NotFoundError

if TYPE_CHECKING:  # the client is imported only by what uses it
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024  # compressed bytes read at once
OUT_SIZE = 1024 * 1024  # most decompressed bytes produced at once
MAX_LINE = 1024 * 1024  # a longer line is handed out in pieces
POLL_INTERVAL = 0.5
STREAM_ORDER = ("output", "server")


class GzipReader:
    """Decompressed bytes of a gzip file that may still be growing, from where it was left.

    Handles several gzip members one after another; ``count`` is the number of complete lines read by
    :meth:`batches`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: IO[bytes] | None = None
        self._inflater = zlib.decompressobj(31)
        self._input = b""
        self._partial = b""

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def chunks(self) -> Iterator[bytes]:
        """The decompressed bytes available now, in slices of at most :data:`OUT_SIZE`."""
        if self._file is None:
            try:
                self._file = self.path.open("rb")
            except FileNotFoundError:
                return
        while True:
            if not self._input:
                self._input = self._file.read(READ_SIZE)
                if not self._input:
                    return
            inflater = self._inflater
            try:
                out = inflater.decompress(self._input, OUT_SIZE)
            except zlib.error as e:
                raise BackendError(
                    f"The log {self.path} is damaged ({e}); what came before that point was shown."
                ) from e
            if inflater.eof:
                self._input = inflater.unused_data
                self._inflater = zlib.decompressobj(31)
            else:
                self._input = inflater.unconsumed_tail
            if out:
                yield out

    def batches(self) -> Iterator[list[bytes]]:
        """The complete lines available now (without their newline), a batch per slice. A line
        longer than :data:`MAX_LINE` comes out in pieces, each counted as a line."""
        for chunk in self.chunks():
            data = self._partial + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                self._partial = data
                lines: list[bytes] = []
            else:
                lines = data[:cut].split(b"\n")
                self._partial = data[cut + 1 :]
            if len(self._partial) > MAX_LINE:
                lines.append(self._partial)
                self._partial = b""
            self.count += len(lines)
            if lines:
                yield lines

    def rest(self) -> list[bytes]:
        """At the end: the last line, if it has no newline."""
        if not self._partial:
            return []
        rest, self._partial = self._partial, b""
        self.count += 1
        return [rest]


class LocalLogs:
    """The kept logs of local executions under ``data_dir``, with the journal for live lines."""

    def __init__(self, data_dir: Path, journal: Journal | None = None, *, poll_interval: float = POLL_INTERVAL) -> None:
        self.data_dir = data_dir
        self.journal = journal
        self.poll_interval = poll_interval

    def folder(self, execution_id: str) -> Path:
        return self.data_dir / "executions" / execution_id

    def path(self, execution_id: str, stream: str) -> Path:
        return self.folder(execution_id) / f"{stream}.log.gz"

    def streams(self, execution_id: str) -> list[str]:
        """The streams an execution has (its log files, and the journal's), ``output`` first."""
        names = {p.name[: -len(".log.gz")] for p in self.folder(execution_id).glob("*.log.gz")}
        if self.journal is not None:
            names.update(self.journal.streams(execution_id))
        return sorted(names, key=lambda n: (STREAM_ORDER.index(n) if n in STREAM_ORDER else len(STREAM_ORDER), n))

    def copy(self, execution_id: str, stream: str) -> Iterator[bytes]:
        """A finished execution's log, as it was kept, in slices (the fastest way to print it)."""
        reader = GzipReader(self.path(execution_id, stream))
        try:
            yield from reader.chunks()
        finally:
            reader.close()

    def lines(
        self,
        execution_id: str,
        streams: Sequence[str] | None = None,
        *,
        tail: int | None = None,
        follow: bool = False,
        is_active: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[tuple[str, list[bytes]]]:
        """Batches of ``(stream, lines)``, lines without their newline.

        ``tail``: only the last ``tail`` lines of each stream (of what there is now). ``follow``: go
        on while ``is_active()``, then print what the finished log holds past what was printed.
        Without ``follow``, a run in progress is read as far as its file and journal go now.
        """
        cursors: dict[str, _Cursor] = {}

        def cursor(stream: str) -> _Cursor:
            if stream not in cursors:
                cursors[stream] = _Cursor(GzipReader(self.path(execution_id, stream)), self.journal, execution_id, stream)
            return cursors[stream]

        def chosen() -> list[str]:
            found = self.streams(execution_id)
            return [s for s in found if streams is None or s in streams]

        try:
            active = follow and is_active()
            for stream in chosen():
                if tail is not None:
                    last: deque[bytes] = deque(maxlen=tail)
                    for batch in cursor(stream).available(final=not active and not is_active()):
                        last.extend(batch)
                    if last:
                        yield stream, list(last)
                else:
                    for batch in cursor(stream).available(final=not active and not is_active()):
                        yield stream, batch
            while active:
                sleep(self.poll_interval)
                active = is_active()
                for stream in chosen():
                    for batch in cursor(stream).available(final=not active):
                        yield stream, batch
        finally:
            for c in cursors.values():
                c.reader.close()


class _Cursor:
    """One stream of one execution: what was printed (by line number), and where to read next."""

    def __init__(self, reader: GzipReader, journal: Journal | None, execution_id: str, stream: str) -> None:
        self.reader = reader
        self.journal = journal
        self.execution_id = execution_id
        self.stream = stream
        self.printed = 0

    def _new(self, start: int, lines: list[bytes]) -> list[bytes]:
        """Of ``lines`` numbered from ``start + 1``, those past what was printed."""
        skip = self.printed - start
        if skip >= len(lines):
            return []
        kept = lines[skip:] if skip > 0 else lines
        self.printed = start + len(lines)
        return kept

    def available(self, *, final: bool) -> Iterator[list[bytes]]:
        for batch in self.reader.batches():
            start = self.reader.count - len(batch)
            kept = self._new(start, batch)
            if kept:
                yield kept
        if final:
            rest = self.reader.rest()
            kept = self._new(self.reader.count - len(rest), rest)
            if kept:
                yield kept
            return
        if self.journal is None:
            return
        while True:
            rows = self.journal.lines(self.execution_id, self.stream, after=self.printed)
            if not rows:
                return
            lines = [r.text.encode("utf-8") for r in rows]
            kept = self._new(rows[0].line - 1, lines)
            if rows[-1].line != rows[0].line + len(rows) - 1:  # a gap (should not happen): trust the numbers
                self.printed = rows[-1].line
            if kept:
                yield kept


# -- cluster runs --------------------------------------------------------------------------------


class ClusterLogs(Protocol):
    """The logs of a cluster run's pods, while they exist (through the Kubernetes API)."""

    def sources(self, execution_id: str) -> list[str]:
        """``pod/container`` of every container of the execution's pods that exist now."""
        ...

    def read(
        self, execution_id: str, *, container: str | None = None, tail: int | None = None, follow: bool = False
    ) -> Iterator[LogLine]:
        """Lines of every source (or of ``container``), each labelled with its ``pod/container``."""
        ...


class ArchivedLogs(Protocol):
    """The logs of a finished cluster run, as they were exported (Elasticsearch)."""

    def read(self, execution_id: str, *, container: str | None = None, tail: int | None = None) -> Iterator[LogLine]:
        """Lines in time order (by source and line number within one time), labelled ``pod/container``."""
        ...


class _BadQuery(Exception):
    """Elasticsearch refused the query's syntax (400)."""


class ElasticsearchLogs:
    """:class:`ArchivedLogs` from the indices the Elasticsearch exporter writes (``<prefix>-*``),
    paged with ``search_after`` over the sort (``@timestamp``, ``source``, ``line``)."""

    SORT = ("@timestamp", "source", "line")

    def __init__(self, client: Elasticsearch, *, index_prefix: str = "anubis-logs", page_size: int = 1000) -> None:
        self.client = client
        self.index = f"{index_prefix}-*"
        self.page_size = page_size

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> ElasticsearchLogs:
        from elasticsearch import Elasticsearch

        return cls(Elasticsearch(url), **kwargs)

    def _query(self, execution_id: str, container: str | None) -> dict[str, Any]:
        filters: list[dict[str, Any]] = [{"term": {"execution_id": execution_id}}]
        if container is not None:
            filters.append({"term": {"container": container}})
        return {"bool": {"filter": filters}}

    def _page(self, query: dict[str, Any], order: str, size: int, after: list[Any] | None, *,
              raw: bool = False) -> list[dict[str, Any]]:
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        body: dict[str, Any] = {
            "query": query,
            "size": size,
            "sort": [{name: order} for name in self.SORT],
        }
        if after is not None:
            body["search_after"] = after
        try:
            response = self.client.search(index=self.index, **body)
        except ApiError as e:
            if raw and e.meta.status == 400:
                raise
            raise BackendError(
                f"Elasticsearch could not be searched for the logs ({e}); check its URL and that the exporter "
                f"writes to the indices {self.index}."
            ) from e
        except TransportError as e:
            raise BackendError(
                f"Elasticsearch could not be searched for the logs ({e}); check its URL and that the exporter "
                "writes to the indices "
                f"{self.index}."
            ) from e
        hits: list[dict[str, Any]] = response["hits"]["hits"]
        return hits

    def has_container(self, execution_id: str, container: str) -> bool:
        """Whether any line of the execution came from ``container`` (``inference-server``: an inference run)."""
        return bool(self._page(self._query(execution_id, container), "asc", 1, None))

    def search(self, query: str, *, benchmark: str | None = None, run: str | None = None,
               since: float | None = None, limit: int = 50) -> SearchResult:
        """Lines whose message matches ``query`` (Lucene ``query_string`` syntax), newest first, as
        :meth:`controller.journal.Journal.search` answers; text that is not valid syntax is searched
        for as plain words (a ``match`` of all of them)."""
        if not query.strip():
            raise NotFoundError("Give something to search for.")
        filters: list[dict[str, Any]] = []
        if benchmark is not None:
            filters.append({"term": {"benchmark": benchmark}})
        if run is not None:
            filters.append({"bool": {"should": [{"term": {"execution_id": run}}, {"term": {"run_id": run}}],
                                     "minimum_should_match": 1}})
        if since is not None:
            filters.append({"range": {"@timestamp": {"gte": round(since * 1000)}}})
        parsed = {"query_string": {"query": query, "default_field": "message", "default_operator": "AND"}}
        try:
            hits = self._hits(parsed, filters, limit)
            quoted = False
        except _BadQuery:
            hits = self._hits({"match": {"message": {"query": query, "operator": "and"}}}, filters, limit)
            quoted = True
        found = []
        for hit in hits:
            doc = hit["_source"]
            line = _log_line(doc)
            found.append(SearchHit(execution_id=str(doc.get("execution_id", "")), run_id=str(doc.get("run_id", "")),
                                   benchmark=str(doc.get("benchmark", "")), stream=line.source,
                                   line=int(doc.get("line") or 0), at=line.time, text=line.text))
        return SearchResult(found, query, quoted)

    def _hits(self, query: dict[str, Any], filters: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
        from elasticsearch import BadRequestError

        body = {"bool": {"must": [query], "filter": filters}}
        try:
            return self._page(body, "desc", limit, None, raw=True)
        except BadRequestError as e:
            raise _BadQuery(str(e)) from e

    def read(self, execution_id: str, *, container: str | None = None, tail: int | None = None) -> Iterator[LogLine]:
        query = self._query(execution_id, container)
        if tail is not None:
            hits = self._page(query, "desc", tail, None) if tail > 0 else []
            yield from (_log_line(h["_source"]) for h in reversed(hits))
            return
        after: list[Any] | None = None
        seen = False
        while True:
            hits = self._page(query, "asc", self.page_size, after)
            for hit in hits:
                seen = True
                yield _log_line(hit["_source"])
            if len(hits) < self.page_size:
                break
            source = hits[-1]["_source"]
            after = hits[-1].get("sort") or [source.get(name) for name in self.SORT]
        if not seen:
            raise NotFoundError(
                f"Elasticsearch has no log lines of execution {execution_id} in {self.index}"
                + (f" from container {container!r}" if container else "")
                + "; it is exported when the run finishes."
            )


def label_of(source: str, *, inference: bool) -> str | None:
    """How a line of ``pod/container`` is labelled on the terminal: ``launcher``, ``worker-1`` (an
    MPIJob's pods), ``client`` and ``server`` (an inference run), the container's name for any other
    container; None for a plain run's ``benchmark`` (one stream, nothing to tell apart)."""
    pod, _, container = source.partition("/")
    worker = _WORKER.search(pod)
    base = f"worker-{worker.group(1)}" if worker else ("launcher" if _LAUNCHER.search(pod) else None)
    if container == "inference-server":
        name: str | None = "server"
    elif container in ("benchmark", ""):
        name = "client" if inference and base is None else None
    else:
        name = container
    if base is not None:
        return base if name is None else f"{base} {name}"
    return name


_WORKER = re.compile(r"-worker-(\d+)$")
_LAUNCHER = re.compile(r"-launcher(?:-[a-z0-9]+)?$")


def _log_line(source: dict[str, Any]) -> LogLine:
    stamp = source.get("@timestamp")
    if isinstance(stamp, str):
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).timestamp()
    else:
        at = float(stamp or 0) / 1000.0
    return LogLine(time=at, source=str(source.get("source", "")), text=str(source.get("message", "")))
