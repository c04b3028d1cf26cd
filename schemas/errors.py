"""The one error hierarchy of Anubis.

Every expected failure is an :class:`AnubisError` whose message is a sentence saying what is wrong and
what to do. Only the command line turns these into exit codes; library code raises and chains them
(``raise FetchError(...) from e``).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Severity = Literal["error", "warning"]


class AnubisError(Exception):
    """Base of every error Anubis raises on purpose."""

    exit_code: int = 1


class Problem(NamedTuple):
    """One problem found in an input file, located as precisely as we can.

    ``field`` is the dotted path of the offending field (``hardware.distributed.num_instances``,
    ``data.sources[1].md5``); ``line``/``column`` are 1-based and point at the key that holds it.
    (A named tuple — ``_replace``, ``_asdict`` — not a frozen dataclass: every command imports this
    module, and Python 3.11 compiles a dataclass's methods at import.)
    """

    path: str
    line: int
    column: int
    field: str
    message: str
    severity: Severity = "error"

    def format(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        label = f"{self.field}: " if self.field else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{label}{self.message}"


class DescriptorError(AnubisError):
    """One or more problems in a descriptor (or environment) file. Carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p for p in problems if p.severity == "error"]
        self.warnings = [p for p in problems if p.severity == "warning"]
        super().__init__("\n".join(p.format() for p in self.problems) or "invalid descriptor")


class RenderError(AnubisError):
    """Rendering could not produce manifests (a template or output problem)."""


class BackendError(AnubisError):
    """A run could not be started, followed or stopped by its backend."""


class FetchError(AnubisError):
    """A data source could not be fetched or did not match its checksum."""


class StoreError(AnubisError):
    """An Anubis file (the result store, the journal, the GitHub outbox) could not be read or written."""


class NotFoundError(AnubisError):
    """A run, benchmark or file that was asked for does not exist."""

    exit_code = 2


class ReporterError(AnubisError):
    """An outside reporting system (GitHub, Prometheus, Elasticsearch) refused or failed."""
