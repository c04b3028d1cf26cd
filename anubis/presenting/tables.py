"""Tables as plain data, then printed.

A view is built first (:class:`TableView`: columns with keys, rows of :class:`Cell` keyed by column),
then printed; so a column can be added to a view without touching the printers (the comparison view
shows a ``verdict`` column as soon as a row carries one). Colour comes only from a cell's *tone*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # rich is imported when something is printed: `-o json` never needs it
    from rich.console import Console
    from rich.text import Text

Tone = Literal["plain", "good", "bad", "warn", "muted", "strong"]
Justify = Literal["left", "right", "center"]

STYLES: dict[Tone, str] = {
    "plain": "",
    "good": "green",
    "bad": "bold red",
    "warn": "yellow",
    "muted": "dim",
    "strong": "bold",
}


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = "plain"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    justify: Justify = "left"
    no_wrap: bool = True


@dataclass
class TableView:
    """Columns and rows of a table, before it is printed. A row lacking a column's key is blank."""

    columns: list[Column]
    rows: list[dict[str, Cell]] = field(default_factory=list)
    title: str | None = None

    def add_column(self, column: Column, values: Sequence[Cell] | None = None) -> None:
        self.columns.append(column)
        for row, cell in zip(self.rows, values or ()):
            row[column.key] = cell


def cell_text(cell: Cell) -> Text:
    from rich.text import Text

    return Text(cell.text, style=STYLES[cell.tone])


def print_table(console: Console, view: TableView) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if view.title:
        console.print(Text(view.title, style=STYLES["strong"]))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in view.columns:
        table.add_column(column.header, justify=column.justify, no_wrap=column.no_wrap)
    for row in view.rows:
        table.add_row(*(cell_text(row.get(column.key, Cell(""))) for column in view.columns))
    console.print(table)


def print_fields(console: Console, fields: Sequence[tuple[str, Cell]]) -> None:
    """A block of ``label  value`` lines (a record's header)."""
    from rich.text import Text

    width = max((len(label) for label, _ in fields), default=0)
    for label, cell in fields:
        line = Text(f"{label:<{width}}  ", style=STYLES["strong"])
        line.append_text(cell_text(cell))
        console.print(line, soft_wrap=True)

