"""How the commands show results: rich tables for people, one JSON document for machines.

* :mod:`~anubis.presenting.output` — the ``--output`` option, the console, the JSON document;
* :mod:`~anubis.presenting.plain` — styled text (:class:`~anubis.presenting.plain.Line`) and the
  console that writes it to a pipe or a file without rich;
* :mod:`~anubis.presenting.tables` — views as plain data (:class:`~anubis.presenting.tables.TableView`)
  and their printers;
* :mod:`~anubis.presenting.formatting` — numbers, changes, durations, times and the tone of a status;
* :mod:`~anubis.presenting.sparklines` — a series as one line of blocks;
* :mod:`~anubis.presenting.results`, :mod:`~anubis.presenting.history`,
  :mod:`~anubis.presenting.comparison` — the views of one result, of a benchmark's history and of two
  results side by side.

The package itself re-exports the building blocks that every reading command uses (the output
vocabulary, cells and fields, and the common formats), so a command that shows a few fields needs
one import; the views are imported from their own modules.
"""

from __future__ import annotations

from anubis.presenting.formatting import format_duration, format_time, status_tone
from anubis.presenting.output import (
    Console,
    OutputFormat,
    emit_json,
    make_console,
    output_option,
)
from anubis.presenting.plain import Line
from anubis.presenting.tables import Cell, print_fields

__all__ = [
    "Cell",
    "Console",
    "Line",
    "OutputFormat",
    "emit_json",
    "format_duration",
    "format_time",
    "make_console",
    "output_option",
    "print_fields",
    "status_tone",
]
