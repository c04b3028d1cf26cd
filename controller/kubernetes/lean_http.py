"""Streamed GETs (a pod's log, a watch) read straight off the connection, without ``http.client``.

A finished run's log is read once per report, and in a burst of completions the controller's one
core (the GIL) is the bound: through urllib3 and ``http.client`` a small log read costs ~190 µs of
CPU alone (2–2.5 times that in a burst), most of it their generic work: the request assembled header
by header, the response's headers parsed by ``email.parser`` into a message object and again into
urllib3's header dict, two response objects, a queue (a lock and a condition) to take a pooled
connection and a ``poll`` to check it. :class:`DirectGets` does what such a GET needs and no more:

- **The connection** is made by the urllib3 pool the official client built for the API's host
  (``pool._new_conn()`` and ``connect()``: its TLS settings, CA, client certificate, hostname check,
  socket options), so every security setting is the client's own; the request and the response are
  written and read here. Connections are kept alive and reused (a list under a lock, at most the
  pool's size kept idle). A reused connection the server has closed meanwhile (its idle timeout)
  fails before the first byte of the answer: the GET is sent once more on a new connection, as
  urllib3 and Go's transport do for an idempotent request (RFC 9110 §9.2.2). Through a proxy the
  client's own ``call_api`` is used instead (:class:`~controller.kubernetes.client.KubeClient`).
- **The request**: ``GET <target> HTTP/1.1`` with ``Host`` (as ``http.client`` writes it),
  ``Accept-Encoding: identity`` (as ``http.client`` adds when urllib3 sends none) and the caller's
  headers; a header name or value or a target with a line break or a control character is refused
  (``ValueError``), as ``http.client`` refuses it.
- **The response** (RFC 9112): the status line and the header fields (folded lines joined), interim
  ``1xx`` answers skipped; the body framed by ``Transfer-Encoding: chunked`` (chunk extensions and
  trailers read and dropped), else by ``Content-Length`` (several that differ, or one that is not a
  number, is an error: §6.3), else read to the connection's close; none for ``204`` and ``304``.
  ``gzip`` and ``deflate`` bodies are decoded (the API server compresses only when asked, which this
  client does not). A connection is reused only after its body was read to the end, and not after
  ``Connection: close`` (or an HTTP/1.0 answer without ``keep-alive``). A body cut short raises
  urllib3's ``ProtocolError``, as urllib3 does.

The body is handed out as it arrives (a watch's events one chunk at a time), never buffered whole.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

from schemas.errors import BackendError

MAX_HEAD = 64 * 1024
"""Bytes of status line and header fields accepted, at most (http.client: 100 fields of 64 KiB)."""
READ_SIZE = 65536
_ILLEGAL = re.compile(r"[\x00-\x1f\x7f]")  # control characters (CR, LF, NUL...) in a name, value or target
_ILLEGAL_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # the same, tab allowed in a value


class HttpStatusError(BackendError):
    """An answer outside 2xx: its status, reason, header fields and body (read whole)."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


class _Closed(OSError):
    """The connection ended before the first byte of the answer (a reused one may be retried)."""


class DirectGets:
    """GETs on keep-alive connections made by one urllib3 connection pool (``HTTPConnectionPool``)."""

    def __init__(self, pool: Any, *, keep: int = 32) -> None:
        self.pool = pool
        self.keep = max(1, keep)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        host = pool.host
        if ":" in host:  # an IPv6 literal, as http.client writes it
            host = f"[{host}]"
        default_port = 443 if pool.scheme == "https" else 80
        self.host_header = host if pool.port in (None, default_port) else f"{host}:{pool.port}"
        self.opened = 0  # connections made (for tests)

    def get(self, target: str, headers: Mapping[str, str], timeout: float) -> StreamedResponse:
        """Send ``GET target`` and read the answer's head; a status outside 2xx raises
        :class:`HttpStatusError` with the body read. The body is read by the caller
        (:meth:`StreamedResponse.stream`), who then calls :meth:`StreamedResponse.release_conn`."""
        request = self._request(target, headers)
        conn, reused = self._take(timeout)
        while True:
            try:
                conn.sock.settimeout(timeout)
                try:
                    conn.sock.sendall(request)
                except OSError as e:
                    if isinstance(e, TimeoutError):
                        raise
                    raise _Closed(f"the request could not be sent ({e})") from e
                response = StreamedResponse(self, conn)
                break
            except _Closed:
                conn.close()
                if not reused:
                    raise
                conn, reused = self._connect(timeout), False  # the server closed it while idle
            except BaseException:
                conn.close()
                raise
        if not 200 <= response.status <= 299:
            try:
                body = response.read()
            finally:
                response.release_conn()  # kept only when the body was read whole
            raise HttpStatusError(response.status, response.reason, response.headers, body)
        return response

    def _request(self, target: str, headers: Mapping[str, str]) -> bytes:
        if _ILLEGAL.search(target) or " " in target:
            raise ValueError(f"the request target {target!r} has a space or a control character")
        lines = [f"GET {target} HTTP/1.1", f"Host: {self.host_header}", "Accept-Encoding: identity"]
        agent = False
        for name, value in headers.items():
            value = str(value)
            if not name or _ILLEGAL.search(name) or ":" in name or " " in name or _ILLEGAL_VALUE.search(value):
                raise ValueError(f"invalid header {name!r}: {value!r}")
            agent = agent or name.lower() == "user-agent"
            lines.append(f"{name}: {value}")
        if not agent:  # urllib3 sends its own when the caller sets none
            from urllib3 import _version

            lines.append(f"User-Agent: python-urllib3/{_version.__version__}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _take(self, timeout: float) -> tuple[Any, bool]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is not None and conn.sock is not None:
            return conn, True
        return self._connect(timeout), False

    def _connect(self, timeout: float) -> Any:
        conn = self.pool._new_conn()
        conn.timeout = timeout  # the connect's too (the client's pool has none of its own)
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


class StreamedResponse:
    """One answer: :attr:`status`, :attr:`reason`, :attr:`headers` (name, value pairs as sent), and
    its body through :meth:`stream` (or :meth:`read`)."""

    def __init__(self, owner: DirectGets, conn: Any) -> None:
        self._owner = owner
        self._conn: Any = conn
        self._sock = conn.sock
        self._buf = b""
        self._done = False
        self._received = False  # a byte of the answer came: no longer retried
        self.status = 100
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self._fields: dict[str, str] = {}
        self._version = ""
        while 100 <= self.status <= 199 and self.status != 101:  # interim answers are skipped
            self._read_head()
        fields = self._fields
        version = self._version
        connection = fields.get("connection", "").lower()
        self._reusable = ("close" not in connection) if version == "HTTP/1.1" else ("keep-alive" in connection)
        coding = fields.get("transfer-encoding", "").lower()
        self._chunked = False
        self._length: int | None = None
        if self.status in (204, 304):
            self._length = 0
        elif coding:
            self._chunked = coding.rsplit(",", 1)[-1].strip() == "chunked"
            if not self._chunked or "content-length" in fields:
                # a coding without chunked: the body ends with the connection; with a length as well:
                # the coding wins, and the connection is not trusted again (RFC 9112 §6.3, smuggling)
                self._reusable = False
        elif "content-length" in fields:
            lengths = {v.strip() for v in fields["content-length"].split(",")}
            if len(lengths) != 1 or not (value := lengths.pop()).isdigit():
                raise _protocol_error(f"invalid Content-Length {fields['content-length']!r}")
            self._length = int(value)
        else:
            self._reusable = False
        encoding = fields.get("content-encoding", "").strip().lower()
        self._decoder = zlib.decompressobj(47) if encoding in ("gzip", "x-gzip", "deflate") else None

    def _read_head(self) -> None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            if len(buf) > MAX_HEAD:
                raise _protocol_error("the answer's header fields exceed 64 KiB")
            try:
                data = self._sock.recv(READ_SIZE)
            except OSError as e:
                if self._received or isinstance(e, TimeoutError):
                    raise
                raise _Closed(f"the connection failed before the answer ({e})") from e
            if not data:
                if self._received:
                    raise _protocol_error("the connection closed in the answer's header fields")
                raise _Closed("the connection closed before the answer")
            self._received = True
            buf += data
            end = buf.find(b"\r\n\r\n", max(0, len(buf) - len(data) - 3))
        head, self._buf = buf[:end].decode("latin-1"), buf[end + 4 :]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (parts[1].isdigit() and len(parts[1]) == 3):
            raise _protocol_error(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        self._version = parts[0]
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        pairs: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and pairs:  # obsolete line folding: part of the field before
                name, value = pairs[-1]
                pairs[-1] = (name, f"{value} {line.strip()}")
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _protocol_error(f"a malformed header field: {line[:80]!r}")
            pairs.append((name, value.strip()))
        self.headers = pairs
        fields: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            fields[key] = f"{fields[key]}, {value}" if key in fields else value
        self._fields = fields

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._fields.get(name.lower(), default)

    # -- the body ---------------------------------------------------------------------------------

    def stream(self, amt: int = READ_SIZE, decode_content: bool = True) -> Iterator[bytes]:
        """The body as it arrives, in pieces of at most ``amt`` bytes (a chunked body's pieces are
        its chunks, or parts of them), decoded when ``decode_content``."""
        decoder = self._decoder if decode_content else None
        for piece in self._raw(amt):
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

    def _raw(self, amt: int) -> Iterator[bytes]:
        if self._done:
            return
        if self._chunked:
            yield from self._chunks(amt)
        elif self._length is not None:
            left = self._length
            while left:
                piece = self._take(min(amt, left))
                left -= len(piece)
                yield piece
        else:  # to the connection's close
            while True:
                piece = self._buf or self._sock.recv(amt)
                self._buf = b""
                if not piece:
                    break
                yield piece
        self._done = True

    def _take(self, most: int) -> bytes:
        """Up to ``most`` bytes of the body (what is buffered, else one read); a close is an error."""
        if not self._buf:
            self._buf = self._sock.recv(max(most, 1))
            if not self._buf:
                raise _protocol_error("the connection closed before the end of the body")
        piece, self._buf = self._buf[:most], self._buf[most:]
        return piece

    def _line(self) -> bytes:
        """One line of the chunked framing (a chunk's size, a trailer field), without its CRLF."""
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line, self._buf = self._buf[:end], self._buf[end + 2 :]
                return line
            if len(self._buf) > MAX_HEAD:
                raise _protocol_error("a chunk's size line is too long")
            data = self._sock.recv(READ_SIZE)
            if not data:
                raise _protocol_error("the connection closed in a chunked body")
            self._buf += data

    def _chunks(self, amt: int) -> Iterator[bytes]:
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _protocol_error(f"invalid chunk size {size_text[:20]!r}") from None
            if size == 0:
                while self._line():  # trailer fields, up to the empty line
                    pass
                return
            while size:
                piece = self._take(min(amt, size))
                size -= len(piece)
                yield piece
            if self._line():
                raise _protocol_error("a chunk's data is not followed by CRLF")

    def release_conn(self) -> None:
        """Give the connection back for the next GET when the body was read to the end and the
        server keeps it open; close it otherwise (a body left unread stays on the connection)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._reusable and not self._buf:
            self._owner._give_back(conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _protocol_error(message: str) -> Exception:
    from urllib3.exceptions import ProtocolError

    return ProtocolError(message)
