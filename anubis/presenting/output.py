"""The two ways a reading command answers: a console for people, one JSON document for machines.

Colour only reaches a terminal: on one, the console is rich's, which honours ``NO_COLOR``; to a pipe
or a file (where rich would print no colour either) it is a :class:`~anubis.presenting.plain.PlainConsole`,
which writes the same characters without importing rich (``FORCE_COLOR`` and ``TTY_COMPATIBLE=1``
ask for rich's terminal output anyway). ``--output json`` prints exactly one JSON object; JSON has
no NaN or infinity, so such values are written as ``null``.
"""

from __future__ import annotations

import enum
import io
import math
import os
import sys
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import click

from anubis.presenting.plain import PlainConsole

if TYPE_CHECKING:
    from rich.console import Console as RichConsole

OutputFormat = Literal["table", "json"]

#: Width of tables that go to a pipe or a file (a terminal's own width is used otherwise).
PIPE_WIDTH = 160

F = TypeVar("F", bound=Callable[..., Any])


def output_option(function: F) -> F:
    """The ``--output table|json`` option every reading command takes."""
    decorator = click.option(
        "--output",
        "-o",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="table: for people; json: one JSON object, for scripts.",
    )
    return decorator(function)


class Console(Protocol):
    """What the commands print with: rich's ``Console`` on a terminal, a
    :class:`~anubis.presenting.plain.PlainConsole` elsewhere."""

    @property
    def file(self) -> IO[str]: ...

    @property
    def width(self) -> int: ...

    @property
    def is_terminal(self) -> bool: ...

    @property
    def color_system(self) -> str | None: ...

    @property
    def encoding(self) -> str: ...

    def print(self, *objects: Any, soft_wrap: bool | None = None, markup: bool | None = None,
              highlight: bool | None = None) -> None: ...


def make_console(stream: IO[str] | None = None) -> Console:
    """The console for ``stream`` (stdout by default): rich's on a terminal, else a plain one."""
    out = _prepared(stream)
    if not out.isatty() and not _terminal_asked(os.environ):
        return PlainConsole(out, PIPE_WIDTH)
    return rich_console(out)


def rich_console(stream: IO[str] | None = None) -> RichConsole:
    """Rich's console for ``stream`` (stdout by default), whatever it is: for live displays."""
    from rich.console import Console as RichConsole

    out = _prepared(stream)
    return RichConsole(file=out, highlight=False, width=None if out.isatty() else PIPE_WIDTH)


def _prepared(stream: IO[str] | None) -> IO[str]:
    out = stream if stream is not None else sys.stdout
    if isinstance(out, io.TextIOWrapper) and not out.encoding.lower().startswith("utf"):
        out.reconfigure(errors="replace")  # an ASCII-only stdout shows "?" rather than failing
    return out


def _terminal_asked(environ: Mapping[str, str]) -> bool:
    """Whether rich would treat a stream that is not a terminal as one (its ``is_terminal``:
    ``TTY_COMPATIBLE=1``, or ``FORCE_COLOR`` set and not empty unless ``TTY_COMPATIBLE=0``; inside
    Jupyter it is rich's own business)."""
    compatible = environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    return environ.get("FORCE_COLOR", "") != "" or "IPython" in sys.modules


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, enums as their values and non-finite floats as ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def emit_json(document: Mapping[str, Any]) -> None:
    import json  # here: a command answering for people does not need it

    click.echo(json.dumps(jsonable(document), indent=2, allow_nan=False, ensure_ascii=False))

