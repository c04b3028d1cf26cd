"""Output for a pipe or a file, written without rich: the same characters rich writes there, faster.

Importing rich and laying out one table costs a reading command more than the rest of its work
(``bench/startup.py``). Where rich would print no colour and wrap nothing — stdout is not a terminal —
:class:`PlainConsole` writes the text itself: a :class:`Line` as its text, a table as rich lays out a
``SIMPLE_HEAD`` table without edges (columns as wide as their widest cell, three spaces apart, a rule
under the header, each row padded to the table's width). Whatever it cannot write exactly as rich
would — a line longer than the console (rich wraps it), a character rich measures otherwise (wide,
combining, a control character, a tab), a string with markup, an object it does not know — it hands
to a rich console on the same file, so the output is the same either way
(``tests/unit/anubis/test_plain_output.py`` compares the two).

:class:`Line` is the styled text the commands build: spans of text, each with a rich style; a rich
console renders it through ``__rich__``, so the commands never import rich themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from anubis.presenting.tables import Column, TableView

#: Characters besides printable ASCII that rich measures one cell wide and prints as they are (the
#: ones Anubis itself writes: dashes, ellipsis, signs, arrows, blocks). Anything else goes to rich.
SAFE_CHARACTERS = frozenset("—–…±×→←↑↓≈≤≥·•°µ✓✗─│┃█▁▂▃▄▅▆▇éèàçüöäß")

RULE = "─"  # SIMPLE_HEAD's rule under the header
GAP = 3  # between two columns: a cell's right padding, the (blank) divider, the next cell's left padding


def simple(text: str) -> bool:
    """Whether rich prints ``text`` unchanged, one cell per character (so ``len`` is its width)."""
    if text.isascii():
        return text.isprintable()
    return all((c.isascii() and c.isprintable()) or c in SAFE_CHARACTERS for c in text)


class Line:
    """Styled text: spans, each with a rich style (``""``, ``"dim"``, ``"bold red"``)."""

    __slots__ = ("spans",)

    def __init__(self, text: str = "", style: str = "") -> None:
        self.spans: list[tuple[str, str]] = [(text, style)] if text else []

    def append(self, text: str, style: str = "") -> Line:
        if text:
            self.spans.append((text, style))
        return self

    def append_text(self, other: Line) -> Line:
        self.spans.extend(other.spans)
        return self

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.spans)

    def __rich__(self) -> Text:
        from rich.text import Text

        text = Text()
        for part, style in self.spans:
            text.append(part, style=style or None)
        return text

    def __repr__(self) -> str:
        return f"Line({self.spans!r})"


class PlainConsole:
    """The parts of rich's ``Console`` the commands use, for a stream that is not a terminal."""

    is_terminal = False
    color_system: str | None = None

    def __init__(self, file: IO[str], width: int) -> None:
        self.file = file
        self.width = width
        self._rich: Console | None = None

    @property
    def encoding(self) -> str:
        return (getattr(self.file, "encoding", "utf-8") or "utf-8").lower()

    def rich(self) -> Console:
        """A rich console on the same file, as :func:`~anubis.presenting.output.make_console` makes
        for a pipe: for what this one does not write itself."""
        if self._rich is None:
            from rich.console import Console

            self._rich = Console(file=self.file, highlight=False, width=self.width)
        return self._rich

    def print(self, *objects: Any, soft_wrap: bool | None = None, markup: bool | None = None,
              highlight: bool | None = None, **options: Any) -> None:
        text = self._plain(objects, soft_wrap=bool(soft_wrap), markup=markup is not False, options=options)
        if text is None:
            self.rich().print(*objects, soft_wrap=soft_wrap, markup=markup, highlight=highlight, **options)
            return
        self.write(text + "\n")

    def write(self, text: str) -> None:
        self.file.write(text)
        self.file.flush()

    def _plain(self, objects: Sequence[Any], *, soft_wrap: bool, markup: bool, options: dict[str, Any]) -> str | None:
        """What rich would print for ``objects``, when this console can tell; else None."""
        if options or len(objects) > 1:
            return None
        if not objects:
            return ""
        item = objects[0]
        if isinstance(item, Line):
            text = item.plain
        elif isinstance(item, str) and not ("[" in item and markup) and ":" not in item:
            text = item  # no markup, no emoji code
        else:
            return None
        if not simple(text) or (not soft_wrap and len(text) > self.width):
            return None
        return text


def table_lines(view: TableView, columns: Sequence[Column]) -> list[str] | None:
    """The lines of ``view`` (its ``columns``) as rich prints the ``SIMPLE_HEAD`` table of
    :func:`~anubis.presenting.tables.print_table` at its natural width; None when a cell is not
    :func:`simple` text, or a header that rich would read as markup or an emoji code (rich reads
    a header given as a string so)."""
    from anubis.presenting.tables import Cell

    blank = Cell("")
    if any("[" in column.header or ":" in column.header for column in columns):
        return None
    grid = [[column.header for column in columns]]
    grid.extend([row.get(column.key, blank).text for column in columns] for row in view.rows)
    if not all(simple(text) for line in grid for text in line):
        return None
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    justify = [column.justify for column in columns]
    lines = [_row(grid[0], widths, justify)]
    lines.append(RULE * (sum(widths) + GAP * max(len(widths) - 1, 0)))
    lines.extend(_row(line, widths, justify) for line in grid[1:])
    return lines


def _row(texts: Iterable[str], widths: Sequence[int], justify: Sequence[str]) -> str:
    return (" " * GAP).join(_fit(text, width, how) for text, width, how in zip(texts, widths, justify))


def _fit(text: str, width: int, justify: str) -> str:
    """``text`` justified in ``width`` cells as rich's ``Lines.justify`` does it (right and centred
    text loses its trailing spaces first; the width was measured with them)."""
    if justify == "left":
        return text + " " * (width - len(text))
    text = text.rstrip()
    excess = width - len(text)
    if justify == "right":
        return " " * excess + text
    left = excess // 2
    return " " * left + text + " " * (excess - left)
