"""The command line's logging set-up: ``WARNING`` and above (everything with ``--debug``) to stderr as
``LEVEL name: message``, without importing :mod:`logging` for a command that never logs.

When :mod:`logging` is already imported (the command's module, or ``--debug``), it is set up at once.
Otherwise a finder at the head of ``sys.meta_path`` waits for its import — by a module of Anubis
(:class:`controller.lazy_logging.ModuleLogger` imports it on its first message) or of a client
library, at any point of the command — and sets it up right after that import, before anything can
log: every message reads the same as if it had been set up first. The reading commands (`list`,
`search`, `status`) usually never import it (tests/unit/anubis/test_startup_imports.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

FORMAT = "%(levelname)s %(name)s: %(message)s"


def configure_logging(debug: bool) -> None:
    """Set logging up now if it is imported (or ``debug`` asks for it), else when it is imported."""
    if debug or "logging" in sys.modules:
        _set_up(debug)
    elif not any(isinstance(finder, _SetUpOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SetUpOnImport(debug))


def _set_up(debug: bool) -> None:
    import logging

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format=FORMAT)


class _SetUpOnImport:
    """A meta path finder for ``logging`` only: it hands the import system the module's own spec with
    a loader that runs the real one, then :func:`_set_up`, and it leaves ``sys.meta_path``."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != "logging":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(fullname)  # the finders after this one: the standard library's
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenSetUp(spec.loader, self.debug)  # type: ignore[assignment]
        return spec


class _ThenSetUp:
    """Loads the module with ``loader``, puts ``loader`` back in its spec and ``__loader__`` (for
    linecache and reloads), then sets logging up."""

    def __init__(self, loader: Any, debug: bool) -> None:
        self.loader = loader
        self.debug = debug

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        _set_up(self.debug)
