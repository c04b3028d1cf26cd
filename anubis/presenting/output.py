"""The two ways a reading command answers: a console for people, one JSON document for machines.

Colour only reaches a terminal: rich leaves it out when stdout is a pipe or a file, and honours
``NO_COLOR``/``FORCE_COLOR``. ``--output json`` prints exactly one JSON object; JSON has no NaN or
infinity, so such values are written as ``null``.
"""

from __future__ import annotations

import enum
import io
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

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


def make_console(stream: IO[str] | None = None) -> Console:
    from rich.console import Console  # imported when something is printed for people

    out = stream if stream is not None else sys.stdout
    if isinstance(out, io.TextIOWrapper) and not out.encoding.lower().startswith("utf"):
        out.reconfigure(errors="replace")  # an ASCII-only stdout shows "?" rather than failing
    terminal = out.isatty()
    return Console(file=out, highlight=False, width=None if terminal else PIPE_WIDTH)


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
    click.echo(json.dumps(jsonable(document), indent=2, allow_nan=False, ensure_ascii=False))

