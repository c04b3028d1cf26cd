"""Streamed GETs (a pod's log, a watch) on the API client's own connections, read by ``http.client``.

A finished run's log is read once per report, and in a burst of completions the controller's one
core (the GIL) is the bound. Through the official client, a small log read costs ~190 µs of CPU
alone (2–2.5 times that in a burst): ``call_api`` checks and serialises every parameter and finds
the pool from the URL, urllib3 takes the connection from a queue (a lock and a condition) and checks
it with a ``poll``, and wraps ``http.client``'s answer in a response object of its own.
:class:`DirectGets` keeps what such a GET needs:

- **The connection** is made by the urllib3 pool the official client built for the API's host
  (``pool._new_conn()`` and ``connect()``: its TLS settings, CA, client certificate, hostname check,
  socket options; the request's timeout bounds the connect, as urllib3's does), so every security
  setting is the client's own. Connections are kept alive and reused (a list under a lock, at most
  the pool's size kept idle). A reused connection the server has closed meanwhile (its idle
  timeout) fails before the first byte of the answer: the GET is sent once more on a new
  connection, as urllib3 and Go's transport do for an idempotent request (RFC 9110 §9.2.2). Through
  a proxy the client's own ``call_api`` is used instead (:class:`~controller.kubernetes.client.KubeClient`).
- **The request and the answer** are written and read by the standard library's ``http.client``
  (the parent class of urllib3's connection: its request line and header checks, which refuse a
  line break or a control character with ``ValueError``; its status line, header fields, interim
  ``100`` answers, ``Transfer-Encoding: chunked`` with extensions and trailers, ``Content-Length``,
  a body read to the connection's close, none for ``204``/``304``, keep-alive by version and
  ``Connection``). On top of it, what urllib3 adds and a GET of ours relies on: its
  ``User-Agent`` when the caller sets none, ``gzip``/``deflate`` bodies decoded (the API server
  compresses only when asked, which this client does not), RFC 9112 §6.3's stricter framing (a
  ``Content-Length`` that is not one number is an error; an answer with both ``Transfer-Encoding``
  and ``Content-Length`` is read chunked and its connection not kept), and a broken answer raised as
  urllib3's ``ProtocolError``, which the client's retry already handles.

A connection is reused only after its body was read to the end. The body is handed out as it
arrives (a watch's events one chunk at a time), never buffered whole.
"""

from __future__ import annotations

import http.client
import re
import threading
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

from schemas.errors import BackendError

READ_SIZE = 65536
_FOLDED = re.compile(r"\r?\n[ \t]+")  # obsolete line folding (RFC 9112 §5.2): one space
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a field name (RFC 9110 §5.1; http.client lets a space by)


class HttpStatusError(BackendError):
    """An answer outside 2xx: its status, reason, header fields and body (read whole)."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


class DirectGets:
    """GETs on keep-alive connections made by one urllib3 connection pool (``HTTPConnectionPool``)."""

    def __init__(self, pool: Any, *, keep: int = 32) -> None:
        self.pool = pool
        self.keep = max(1, keep)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self.opened = 0  # connections made (for tests)

    def get(self, target: str, headers: Mapping[str, str], timeout: float) -> StreamedResponse:
        """Send ``GET target`` and read the answer's head; a status outside 2xx raises
        :class:`HttpStatusError` with the body read. The body is read by the caller
        (:meth:`StreamedResponse.stream`), who then calls :meth:`StreamedResponse.release_conn`."""
        conn, reused = self._take(timeout)
        while True:
            try:
                conn.sock.settimeout(timeout)
                _send(conn, target, headers)
                raw: http.client.HTTPResponse = http.client.HTTPConnection.getresponse(conn)
                break
            except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as e:
                conn.close()
                if not reused:  # (http.client's RemoteDisconnected is a ConnectionResetError)
                    raise ConnectionResetError(f"the connection closed before the answer ({e})") from e
                conn, reused = self._connect(timeout), False  # the server closed it while idle
            except http.client.HTTPException as e:
                conn.close()
                raise _protocol_error(f"not an HTTP/1.x answer: {e!r}") from e
            except BaseException:
                conn.close()
                raise
        response = StreamedResponse(self, conn, raw)
        if not 200 <= response.status <= 299:
            body = response.read()
            response.release_conn()
            raise HttpStatusError(response.status, response.reason, raw.getheaders(), body)
        return response

    def _take(self, timeout: float) -> tuple[Any, bool]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is not None and conn.sock is not None:
            return conn, True
        return self._connect(timeout), False

    def _connect(self, timeout: float) -> Any:
        conn = self.pool._new_conn()
        conn.timeout = timeout  # the client's pool sets none: a connect that hangs would wait forever
        conn.connect()  # the pool's TLS settings and socket options (urllib3's HTTPSConnection.connect)
        self.pool._validate_conn(conn)  # urllib3's warning for an unverified TLS connection
        self.opened += 1
        return conn

    def _give_back(self, conn: Any) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections (those in use are closed when released)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _send(conn: Any, target: str, headers: Mapping[str, str]) -> None:
    """The request, written by ``http.client``'s own methods (urllib3's connection overrides them to
    build a response object of its own, which is the cost saved here); a request line or a header
    field with a line break or a control character is a ``ValueError`` before anything is sent."""
    base = http.client.HTTPConnection
    try:
        base.putrequest(conn, "GET", target, skip_accept_encoding=True)  # Host as http.client writes it
        base.putheader(conn, "Accept-Encoding", "identity")
        agent = False
        for name, value in headers.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"invalid header name {name!r}")
            agent = agent or name.lower() == "user-agent"
            base.putheader(conn, name, str(value))
        if not agent:  # urllib3 sends its own when the caller sets none
            from urllib3 import _version

            base.putheader(conn, "User-Agent", f"python-urllib3/{_version.__version__}")
    except http.client.InvalidURL as e:
        raise ValueError(str(e)) from None
    base.endheaders(conn)


class StreamedResponse:
    """One answer: :attr:`status`, :attr:`reason`, and its body through :meth:`stream` (or :meth:`read`)."""

    def __init__(self, owner: DirectGets, conn: Any, raw: http.client.HTTPResponse) -> None:
        self._owner = owner
        self._conn: Any = conn
        self._raw = raw
        self.status = raw.status
        self.reason = raw.reason
        self._reusable = not raw.will_close
        self._done = False  # the body read to its end
        if raw.headers.defects:  # a line that is no field: a broken answer, or one cut in its head
            self._drop(conn)
            raise _protocol_error(f"malformed header fields, or the connection closed in them ({raw.headers.defects})")
        lengths = {v.strip() for v in ",".join(raw.headers.get_all("Content-Length") or ()).split(",") if v.strip()}
        if raw.headers.get("Transfer-Encoding") is not None:
            self._reusable = self._reusable and not lengths  # both: read chunked, not kept (RFC 9112 §6.3)
        elif lengths and (len(lengths) != 1 or not next(iter(lengths)).isdigit()):
            self._drop(conn)
            raise _protocol_error(f"invalid Content-Length {', '.join(sorted(lengths))!r}")
        encoding = (raw.getheader("Content-Encoding") or "").strip().lower()
        self._decoder = zlib.decompressobj(47) if encoding in ("gzip", "x-gzip", "deflate") else None

    def _drop(self, conn: Any) -> None:
        self._raw.close()
        conn.close()
        self._conn = None

    def getheader(self, name: str, default: str | None = None) -> str | None:
        value = self._raw.getheader(name)
        return default if value is None else _FOLDED.sub(" ", value)

    def stream(self, amt: int = READ_SIZE, decode_content: bool = True) -> Iterator[bytes]:
        """The body as it arrives, in pieces of at most ``amt`` bytes (a chunked body's pieces are
        its chunks, or parts of them), decoded when ``decode_content``."""
        decoder = self._decoder if decode_content else None
        while True:
            try:
                piece = self._raw.read1(amt)
            except http.client.IncompleteRead as e:
                raise _protocol_error(f"the connection closed before the end of the body ({e!r})") from e
            except (http.client.HTTPException, ValueError) as e:  # a chunk size that is not a number
                raise _protocol_error(f"a broken chunked body ({e!r})") from e
            if not piece:
                if self._raw.length:  # http.client ends a sized body cut short quietly
                    raise _protocol_error("the connection closed before the end of the body "
                                          f"({self._raw.length} bytes missing)")
                self._done = True
                break
            if decoder is not None:
                piece = decoder.decompress(piece)
                if not piece:
                    continue
            yield piece
        if decoder is not None:
            tail = decoder.flush()
            if tail:
                yield tail

    def read(self) -> bytes:
        return b"".join(self.stream())

    def release_conn(self) -> None:
        """Give the connection back for the next GET when the body was read to the end and the
        server keeps it open; close it otherwise (a body left unread stays on the connection)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._raw.close()  # its buffered reader only (http.client lets the connection send again once it is)
        if self._done and self._reusable and conn.sock is not None:
            self._owner._give_back(conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self._raw.close()
        if conn is not None:
            conn.close()


def _protocol_error(message: str) -> Exception:
    from urllib3.exceptions import ProtocolError

    return ProtocolError(message)
