"""A cluster run's output read from its pods while they exist: :class:`KubernetesLogs`, the
:class:`~controller.logsource.ClusterLogs` of ``anubis logs``.

Sources, in order: an MPIJob's launcher, then each worker; an inference run's client (``benchmark``)
and server (``inference-server``); a Job's ``benchmark`` container of its newest pod (a retried pod
says the latest). ``--container`` picks one container (``fetch-data`` too). Lines are read with
``timestamps=true`` and handed out one at a time (a line longer than :data:`MAX_LINE` in pieces), so
memory stays constant whatever the log's size.

Following (``follow=true``): one reader thread per container, each streaming the API's follow
response into one bounded queue (a reader waits when the terminal is slower, it never buffers); the
pods are listed again every ``poll_interval`` so that a container that starts later (a worker, a
retried pod) is followed too. It ends when the run's status is final and every stream has ended
(the API ends a followed stream when its container ends).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from controller.exporting.base import LogLine
from controller.kubernetes.client import KubeClient
from controller.kubernetes.following import ClusterRun, find_run, observe
from controller.kubernetes.observed import MAIN_CONTAINER, SERVER_CONTAINER, PodState, RunState
from controller.kubernetes.stamps import iter_log_lines
from controller.logsource import MAX_LINE
from schemas.errors import AnubisError

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0
QUEUE_SIZE = 1024  # lines in flight between the readers and the terminal, at most


@dataclass(frozen=True)
class Source:
    pod: str
    container: str
    started: bool  # it has a log (running or terminated)

    @property
    def name(self) -> str:
        return f"{self.pod}/{self.container}"


def log_sources(state: RunState, container: str | None = None) -> list[Source]:
    """The containers whose logs make the run's output, in reading order."""
    pods = list(state.pods)
    if state.kind == "MPIJob":
        pods.sort(key=lambda p: (p.role != "launcher", _worker_index(p), p.name))
    elif pods:
        pods = [max(pods, key=lambda p: (p.created or 0.0, p.name))]
    found: list[Source] = []
    for pod in pods:
        for c in pod.containers:
            wanted = c.name == container if container is not None else c.name in (MAIN_CONTAINER, SERVER_CONTAINER)
            if wanted:
                found.append(Source(pod.name, c.name, c.state in ("running", "terminated")))
    found.sort(key=lambda s: (pods.index(_pod(pods, s.pod)), s.container != MAIN_CONTAINER))
    return found


def _pod(pods: list[PodState], name: str) -> PodState:
    return next(p for p in pods if p.name == name)


def _worker_index(pod: PodState) -> int:
    tail = pod.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def split_lines(chunks: Iterable[bytes]) -> Iterator[tuple[float | None, str]]:
    """``(time, text)`` of each line of a log read with ``timestamps=true``; a line longer than
    :data:`MAX_LINE` comes out in pieces."""
    for when, text in iter_log_lines(chunks, max_line=MAX_LINE):
        yield when, text.decode("utf-8", "replace")


class PodLogs:
    """The logs of one run's pods, read or followed through :class:`KubeClient`."""

    def __init__(self, client: KubeClient, *, poll_interval: float = POLL_INTERVAL, queue_size: int = QUEUE_SIZE) -> None:
        self.client = client
        self.poll_interval = poll_interval
        self.queue_size = queue_size

    def _lines(self, namespace: str, source: Source, *, follow: bool, tail: int | None) -> Iterator[LogLine]:
        chunks = self.client.stream_log(namespace, source.pod, source.container, follow=follow, tail_lines=tail)
        for at, text in split_lines(chunks):
            yield LogLine(at or 0.0, source.name, text)

    def read(self, run: ClusterRun, *, container: str | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[LogLine]:
        if tail == 0 and not follow:
            return
        if not follow:
            for source in log_sources(run.state, container):
                if source.started:
                    yield from self._lines(run.state.namespace, source, follow=False, tail=tail)
            return
        yield from self._follow(run, container, tail)

    def _follow(self, run: ClusterRun, container: str | None, tail: int | None) -> Iterator[LogLine]:
        lines: queue.Queue[LogLine | None] = queue.Queue(maxsize=self.queue_size)  # None: a stream ended
        stop = threading.Event()
        namespace = run.state.namespace

        def put(item: LogLine | None) -> bool:
            while not stop.is_set():
                try:
                    lines.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def pump(source: Source) -> None:
            try:
                for line in self._lines(namespace, source, follow=True, tail=tail):
                    if not put(line):
                        return
            except AnubisError as e:
                log.warning("reading the log of %s stopped: %s", source.name, e)
            finally:
                put(None)

        followed: set[str] = set()
        streaming = 0
        checked = time.monotonic()
        try:
            while True:
                for source in log_sources(run.state, container):
                    if source.started and source.name not in followed:
                        followed.add(source.name)
                        streaming += 1
                        threading.Thread(target=pump, args=(source,), name=f"log-{source.name}", daemon=True).start()
                if streaming == 0 and (run.state.deleted or run.decision(time.time()).final):
                    return
                try:
                    item = lines.get(timeout=self.poll_interval)
                    for _ in range(self.queue_size):  # a burst, then look at the pods again
                        if item is None:
                            streaming -= 1
                        else:
                            yield item
                        item = lines.get_nowait()
                except queue.Empty:
                    pass
                if time.monotonic() - checked >= self.poll_interval or streaming == 0:
                    run = observe(self.client, run)
                    checked = time.monotonic()
        finally:
            stop.set()


class KubernetesLogs:
    """:class:`~controller.logsource.ClusterLogs` through the API: the execution is looked up in
    ``namespaces`` (run id or execution id) and its pods read by :class:`PodLogs`."""

    def __init__(self, client: KubeClient, namespaces: tuple[str, ...], **kwargs: float) -> None:
        self.client = client
        self.namespaces = namespaces
        self.pods = PodLogs(client, poll_interval=kwargs.get("poll_interval", POLL_INTERVAL))

    def sources(self, execution_id: str) -> list[str]:
        run = find_run(self.client, execution_id, self.namespaces)
        return [s.name for s in log_sources(run.state) if s.started]

    def read(self, execution_id: str, *, container: str | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[LogLine]:
        run = find_run(self.client, execution_id, self.namespaces)
        yield from self.pods.read(run, container=container, tail=tail, follow=follow)
