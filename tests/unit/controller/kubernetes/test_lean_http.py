"""The streamed GET on the client's own connections, read by http.client (lean_http): framing, keep-alive, stale connections, errors,
against a server that answers with scripted bytes (every case of RFC 9112's message body length)."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import ProtocolError

from controller.kubernetes.lean_http import DirectGets, HttpStatusError

Answer = Callable[[socket.socket, bytes], bool]  # writes the answer to a request; False closes the connection


class Scripted:
    """Accepts connections; for each request read (up to its blank line), calls the next answer."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except OSError:  # reset by the client (a body it left unread)
                        return
                    if not data:
                        return
                    buf += data
                request, buf = buf.split(b"\r\n\r\n", 1)
                self.requests.append(request)
                if not self.answers or not self.answers.pop(0)(conn, request):
                    return

    def close(self) -> None:
        self._server.close()


def send(data: bytes, *, keep: bool = True) -> Answer:
    def answer(conn: socket.socket, _: bytes) -> bool:
        conn.sendall(data)
        return keep
    return answer


def ok(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.fixture
def server() -> Iterator[Callable[[list[Answer]], tuple[Scripted, DirectGets]]]:
    made: list[tuple[Scripted, DirectGets]] = []

    def make(answers: list[Answer]) -> tuple[Scripted, DirectGets]:
        scripted = Scripted(answers)
        pool = urllib3.HTTPConnectionPool("127.0.0.1", scripted.port)
        made.append((scripted, DirectGets(pool)))
        return made[-1]

    yield make
    for scripted, direct in made:
        direct.close()
        scripted.close()


def body(direct: DirectGets, target: str = "/log", headers: dict[str, str] | None = None, timeout: float = 5) -> bytes:
    response = direct.get(target, {"User-Agent": "test"} if headers is None else headers, timeout)
    try:
        return b"".join(response.stream())
    finally:
        response.release_conn()


def test_the_request_and_a_sized_answer_on_one_kept_connection(server: Any) -> None:
    scripted, direct = server([send(ok(b"line 1\n")), send(ok(b"line 2\n"))])
    assert body(direct, "/api/v1/x?container=benchmark", {"Authorization": "Bearer t", "User-Agent": "ua"}) == b"line 1\n"
    assert body(direct) == b"line 2\n"
    assert scripted.connections == 1 and direct.opened == 1
    assert scripted.requests[0].split(b"\r\n") == [
        b"GET /api/v1/x?container=benchmark HTTP/1.1", f"Host: 127.0.0.1:{scripted.port}".encode(),
        b"Accept-Encoding: identity", b"Authorization: Bearer t", b"User-Agent: ua"]


def test_urllib3s_user_agent_when_none_is_given(server: Any) -> None:
    scripted, direct = server([send(ok(b""))])
    assert body(direct, headers={}) == b""
    assert b"User-Agent: python-urllib3/" in scripted.requests[0]


def test_a_chunked_body_is_handed_out_as_it_comes(server: Any) -> None:
    """A watch: each event as its chunk arrives (the second is sent only once the first was read),
    chunk extensions and trailer fields read and dropped."""
    first_read = threading.Event()

    def answer(conn: socket.socket, _: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n")
        assert first_read.wait(5)
        conn.sendall(b"7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n")
        return True

    scripted, direct = server([answer, send(ok(b"next"))])
    response = direct.get("/watch", {}, 5)
    pieces = response.stream()
    assert next(pieces) == b"hello"
    first_read.set()
    assert b"".join(pieces) == b", world"
    response.release_conn()
    assert body(direct) == b"next" and scripted.connections == 1


def test_a_body_without_length_ends_with_the_connection_which_is_not_kept(server: Any) -> None:
    scripted, direct = server([send(b"HTTP/1.1 200 OK\r\n\r\nall of it", keep=False), send(ok(b"again"))])
    assert body(direct) == b"all of it"
    assert body(direct) == b"again" and scripted.connections == 2


def test_connection_close_and_http_1_0_are_not_kept(server: Any) -> None:
    scripted, direct = server([send(ok(b"a", "Connection: close"), keep=False),
                               send(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb", keep=False),
                               send(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nc"),
                               send(ok(b"d"))])
    assert [body(direct) for _ in range(4)] == [b"a", b"b", b"c", b"d"]
    assert scripted.connections == 3


def test_a_kept_connection_the_server_closed_is_replaced_once(server: Any) -> None:
    """The API server's idle timeout closed it: the GET goes again on a new connection."""
    scripted, direct = server([send(ok(b"one"), keep=False), send(ok(b"two"))])
    assert body(direct) == b"one"
    time.sleep(0.05)  # the server's close has arrived
    assert body(direct) == b"two"
    assert scripted.connections == 2 and len(scripted.requests) == 2


def test_a_new_connection_closed_before_the_answer_is_an_oserror(server: Any) -> None:
    _, direct = server([send(b"", keep=False)])
    with pytest.raises(OSError, match="closed before the answer"):
        direct.get("/log", {}, 5)


def test_an_error_status_carries_its_headers_and_body_and_keeps_the_connection(server: Any) -> None:
    error = b'{"kind":"Status","code":503,"message":"etcd is sulking"}'
    scripted, direct = server([
        send(f"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: {len(error)}\r\n\r\n".encode()
             + error),
        send(ok(b"fine"))])
    with pytest.raises(HttpStatusError) as raised:
        direct.get("/log", {}, 5)
    assert (raised.value.status, raised.value.reason, raised.value.body) == (503, "Service Unavailable", error)
    assert ("Retry-After", "2") in raised.value.headers
    assert body(direct) == b"fine" and scripted.connections == 1


@pytest.mark.parametrize("answer, message", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "before the end of the body"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "before the end of the body"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "before the end of the body"),  # (http.client)
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "invalid Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x answer"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header field"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "malformed header fields, or the connection closed in them"),
])
def test_a_broken_answer_is_a_protocol_error(server: Any, answer: bytes, message: str) -> None:
    _, direct = server([send(answer, keep=False)])
    with pytest.raises(ProtocolError, match=message):
        body(direct)


def test_chunked_wins_over_a_length_and_the_connection_is_not_kept(server: Any) -> None:
    scripted, direct = server([
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
        send(ok(b"next"))])
    assert body(direct) == b"ok"
    assert body(direct) == b"next" and scripted.connections == 2


def test_the_same_length_twice_is_one_length(server: Any) -> None:
    _, direct = server([send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")])
    assert body(direct) == b"ok"


def test_interim_answers_and_folded_fields(server: Any) -> None:
    _, direct = server([send(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\n"
                             b"Content-Length: 2\r\n\r\nok")])
    response = direct.get("/log", {}, 5)
    assert response.getheader("x-long") == "a b" and response.read() == b"ok"
    response.release_conn()


def test_204_and_304_have_no_body(server: Any) -> None:
    scripted, direct = server([send(b"HTTP/1.1 204 No Content\r\n\r\n"), send(ok(b"x"))])
    assert body(direct) == b"" and body(direct) == b"x" and scripted.connections == 1


def test_a_gzipped_body_is_decoded(server: Any) -> None:
    packed = gzip.compress(b"throughput=10\n" * 100)
    _, direct = server([send(ok(packed, "Content-Encoding: gzip"))])
    assert body(direct) == b"throughput=10\n" * 100


def test_a_body_left_unread_closes_the_connection(server: Any) -> None:
    scripted, direct = server([send(ok(b"x" * 100_000)), send(ok(b"y"))])
    response = direct.get("/log", {}, 5)
    next(response.stream(1000))
    response.release_conn()
    assert body(direct) == b"y" and scripted.connections == 2


def test_no_answer_within_the_timeout_is_a_timeout(server: Any) -> None:
    _, direct = server([lambda conn, _: time.sleep(1.0) or False])
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        direct.get("/log", {}, 0.2)
    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize("target, headers", [
    ("/log\r\nX-Injected: 1", {}), ("/a b", {}),
    ("/log", {"Authorization": "Bearer t\r\nX-Injected: 1"}), ("/log", {"Bad Name": "1"}), ("/log", {"A:b": "1"}),
])
def test_a_line_break_or_control_character_in_the_request_is_refused(server: Any, target: str,
                                                                       headers: dict[str, str]) -> None:
    scripted, direct = server([])
    with pytest.raises(ValueError):
        direct.get(target, headers, 5)
    assert scripted.requests == []


def test_a_connect_that_hangs_ends_with_the_timeout() -> None:
    """The client's pool sets no connect timeout of its own: the request's is the connect's too
    (a listener whose backlog is full drops the SYN, and the connect waits)."""
    from urllib3.exceptions import ConnectTimeoutError

    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    filling = []
    try:
        for _ in range(8):  # fill the backlog (no accept)
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            filling.append(s)
        time.sleep(0.05)
        direct = DirectGets(urllib3.HTTPConnectionPool("127.0.0.1", port))
        started = time.monotonic()
        with pytest.raises((ConnectTimeoutError, TimeoutError)):
            direct.get("/log", {}, 0.3)
        assert time.monotonic() - started < 2.0
    finally:
        for s in filling:
            s.close()
        listener.close()


def test_an_error_answer_cut_short_is_a_protocol_error_and_its_connection_is_not_kept(server: Any) -> None:
    scripted, direct = server([send(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 50\r\n\r\n{\"kind\"",
                                    keep=False), send(ok(b"fine"))])
    with pytest.raises(ProtocolError, match="before the end of the body"):
        direct.get("/log", {}, 5)
    assert body(direct) == b"fine" and scripted.connections == 2
