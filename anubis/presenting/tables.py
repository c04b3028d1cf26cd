"""Tables as plain data, then printed.

A view is built first (:class:`TableView`: columns with keys, rows of :class:`Cell` keyed by column),
then printed; so a column can be added to a view without touching the printers (the comparison view
shows a ``verdict`` column as soon as a row carries one). Colour comes only from a cell's *tone*.

Printing never cuts a value: on a terminal too narrow for the table, the columns a view marks as
least important (lowest ``priority``) are left out first, and the table says which; text then wraps,
and right-aligned (numeric) columns keep their full width. To a pipe or a file the table is printed
whole, as wide as it needs (by :mod:`anubis.presenting.plain` without rich, when it can).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

from anubis.presenting.plain import Line, PlainConsole, table_lines

if TYPE_CHECKING:  # rich is imported when something is printed on a terminal: never for `-o json`
    from rich.text import Text

    from anubis.presenting.output import Console

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


class Cell(NamedTuple):  # (named tuples, not frozen dataclasses: quicker to define, for every command)
    text: str
    tone: Tone = "plain"


KEEP = 100  # a column's priority when it must never be left out


class Column(NamedTuple):
    key: str
    header: str
    justify: Justify = "left"
    no_wrap: bool = True
    priority: int = KEEP  # lower: left out sooner when the terminal is too narrow


class TableView:
    """Columns and rows of a table, before it is printed. A row lacking a column's key is blank.
    (A plain class: every reading command imports it, and a dataclass is compiled at import.)"""

    def __init__(self, columns: list[Column], rows: list[dict[str, Cell]] | None = None,
                 title: str | None = None) -> None:
        self.columns = columns
        self.rows: list[dict[str, Cell]] = [] if rows is None else rows
        self.title = title

    def add_column(self, column: Column, values: Sequence[Cell] | None = None) -> None:
        self.columns.append(column)
        for row, cell in zip(self.rows, values or ()):
            row[column.key] = cell


def cell_text(cell: Cell) -> Text:
    from rich.text import Text

    return Text(cell.text, style=STYLES[cell.tone])


GAP = 3  # what rich puts between two columns of a SIMPLE_HEAD table without edges
MIN_TEXT = 6  # the narrowest a wrapped text column is allowed to become


def natural_width(view: TableView, column: Column) -> int:
    return max([len(column.header), *(len(row.get(column.key, Cell("")).text) for row in view.rows)])


def fit_columns(view: TableView, width: int | None) -> tuple[list[Column], list[Column]]:
    """The columns to show within ``width`` (None: all) and those left out, least important first."""
    shown = list(view.columns)
    left_out: list[Column] = []
    if width is None:
        return shown, left_out

    def total(columns: list[Column]) -> int:
        return sum(natural_width(view, c) for c in columns) + GAP * max(len(columns) - 1, 0)

    while total(shown) > width:
        droppable = [c for c in shown if c.priority < KEEP]
        if not droppable:
            break
        least = min(droppable, key=lambda c: (c.priority, -shown.index(c)))
        shown.remove(least)
        left_out.append(least)
    return shown, left_out


def print_table(console: Console, view: TableView) -> None:
    if view.title:
        console.print(Line(view.title, STYLES["strong"]))
    terminal = console.is_terminal
    shown, left_out = fit_columns(view, console.width if terminal else None)
    if isinstance(console, PlainConsole):
        lines = table_lines(view, shown)  # None: a cell that only rich can lay out as rich does
        if lines is not None:
            console.write("".join(line + "\n" for line in lines))
            return
    from rich import box
    from rich.console import Console as RichConsole
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in shown:
        numeric = column.justify == "right"
        table.add_column(column.header, justify=column.justify, no_wrap=numeric, overflow="fold",
                         min_width=natural_width(view, column) if numeric else None)
    for row in view.rows:
        table.add_row(*(cell_text(row.get(column.key, Cell(""))) for column in shown))
    squeezed = sum(natural_width(view, c) if c.justify == "right" else min(natural_width(view, c), MIN_TEXT)
                   for c in shown) + GAP * max(len(shown) - 1, 0)
    if terminal and squeezed <= console.width:
        console.print(table)
    else:  # a pipe, or a terminal too narrow even for the numbers: the whole table, for the terminal to wrap
        full = sum(natural_width(view, c) for c in shown) + GAP * max(len(shown) - 1, 0)
        whole = RichConsole(file=console.file, width=max(full, console.width), highlight=False,
                        color_system="standard" if console.color_system else None, force_terminal=False)
        whole.print(table)  # a console's print is never wider than the console: this one is wide enough
    if left_out:
        names = ", ".join(c.header for c in left_out)
        console.print(Line(f"({names}: left out to fit {console.width} columns; widen the terminal or use"
                           " --output json)", STYLES["muted"]))


def print_fields(console: Console, fields: Sequence[tuple[str, Cell]]) -> None:
    """A block of ``label  value`` lines (a record's header)."""
    width = max((len(label) for label, _ in fields), default=0)
    for label, cell in fields:
        console.print(Line(f"{label:<{width}}  ", STYLES["strong"]).append(cell.text, STYLES[cell.tone]), soft_wrap=True)

