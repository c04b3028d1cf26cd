"""Namespaces that come and go: the pull-request previews' ``anubis-pr-<n>-<env>``, created by Argo CD.

The controller is given fixed namespaces and, optionally, a label selector on Namespaces (the label
Argo CD writes on every preview namespace it creates, ``anubis.dev/preview=true``) and/or a name
pattern (``anubis-pr-*``). :class:`NamespaceTracker` watches the Namespaces (list + watch, cluster
scope: reading their names and labels is all it needs) and tells the controller when one to follow
appears or goes, so that it starts or stops that namespace's watchers.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from controller.kubernetes.client import Resource

log = logging.getLogger(__name__)

NAMESPACES = Resource("Namespace", "v1", "namespaces", namespaced=False)


class NamespaceTracker:
    """A :class:`~controller.kubernetes.watching.WatchSink` of Namespaces: calls ``added(name)`` for each
    namespace that matches ``pattern`` (every one when empty) and is not terminating, ``removed(name)``
    when it goes."""

    def __init__(self, added: Callable[[str], None], removed: Callable[[str], None], *, pattern: str = "") -> None:
        self._added = added
        self._removed = removed
        self.pattern = pattern
        self._lock = threading.Lock()
        self.known: set[str] = set()

    def _wanted(self, obj: dict[str, Any]) -> str | None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        if not name or (self.pattern and not fnmatch.fnmatchcase(name, self.pattern)):
            return None
        if (obj.get("status") or {}).get("phase") == "Terminating":
            return None
        return name

    def snapshot(self, resource: Resource, namespace: str | None, objects: Iterable[dict[str, Any]]) -> None:
        wanted = {n for n in (self._wanted(o) for o in objects) if n}
        with self._lock:
            new, gone = wanted - self.known, self.known - wanted
            self.known = wanted
        for name in sorted(new):
            self._added(name)
        for name in sorted(gone):
            self._removed(name)

    def event(self, resource: Resource, kind: str, obj: dict[str, Any]) -> None:
        name = self._wanted(obj)
        raw = str((obj.get("metadata") or {}).get("name") or "")
        with self._lock:
            if kind != "DELETED" and name and name not in self.known:
                self.known.add(name)
                change: tuple[Callable[[str], None], str] | None = (self._added, name)
            elif (kind == "DELETED" or name is None) and raw in self.known:
                self.known.discard(raw)
                change = (self._removed, raw)
            else:
                change = None
        if change is not None:
            change[0](change[1])
