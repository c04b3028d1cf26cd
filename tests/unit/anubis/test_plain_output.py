"""The plain console (anubis/presenting/plain.py) writes to a pipe exactly what rich writes there: tables,
styled lines, blank lines, and, handed to rich, whatever it cannot lay out itself."""

from __future__ import annotations

import io
import random
import sys

import pytest
from rich.cells import cell_len
from rich.console import Console as RichConsole

from anubis.presenting.output import PIPE_WIDTH, make_console
from anubis.presenting.plain import SAFE_CHARACTERS, Line, PlainConsole, simple, table_lines
from anubis.presenting.tables import Cell, Column, TableView, print_fields, print_table

STYLES = ["", "bold", "dim", "green", "bold red", "yellow"]
# what cells are made of: ASCII, the non-ASCII characters Anubis writes, and spaces at either end
PIECES = ["a", "Z", "0", "9.5", "-", "_", " ", "  ", "x y", "(n=3)", "—", "…", "±", "█▁", "→", "é", "[x]", "a:b"]


def both(action: object, *args: object) -> tuple[str, str]:
    """What ``action(console, *args)`` writes through a plain console and through the rich console
    that make_console made for a pipe before the plain one existed."""
    plain, rich = io.StringIO(), io.StringIO()
    action(PlainConsole(plain, PIPE_WIDTH), *args)  # type: ignore[operator]
    action(RichConsole(file=rich, highlight=False, width=PIPE_WIDTH), *args)  # type: ignore[operator]
    return plain.getvalue(), rich.getvalue()


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 5)))


def random_view(rng: random.Random) -> TableView:
    columns = [
        Column(f"c{i}", random_text(rng) or f"h{i}", rng.choice(["left", "right", "center"]))
        for i in range(rng.randrange(1, 6))
    ]
    view = TableView(columns=columns, title=rng.choice([None, "Metrics", "a title — with a dash"]))
    for _ in range(rng.randrange(0, 6)):
        view.rows.append({c.key: Cell(random_text(rng), rng.choice(["plain", "good", "bad", "muted"]))
                          for c in columns if rng.random() < 0.85})  # some cells missing: blank
    return view


@pytest.mark.parametrize("seed", range(200))
def test_tables_are_written_as_rich_writes_them(seed: int) -> None:
    plain, rich = both(print_table, random_view(random.Random(seed)))
    assert plain == rich


def test_a_table_with_cells_only_rich_can_measure_is_handed_to_rich() -> None:
    view = TableView(columns=[Column("name", "name"), Column("n", "n", "right")])
    view.rows.append({"name": Cell("日本語"), "n": Cell("3")})  # two cells per character
    view.rows.append({"name": Cell("tab\there"), "n": Cell("4")})
    assert table_lines(view, view.columns) is None
    plain, rich = both(print_table, view)
    assert plain == rich


def test_wide_tables_are_printed_whole() -> None:
    view = TableView(columns=[Column(f"c{i}", f"column {i}") for i in range(12)])
    view.rows.append({f"c{i}": Cell("v" * 20) for i in range(12)})  # far wider than PIPE_WIDTH
    plain, rich = both(print_table, view)
    assert plain == rich
    assert len(plain.splitlines()[0]) > PIPE_WIDTH


@pytest.mark.parametrize("seed", range(50))
def test_lines_are_written_as_rich_writes_them(seed: int) -> None:
    rng = random.Random(seed)
    line = Line(random_text(rng), rng.choice(STYLES))
    for _ in range(rng.randrange(0, 4)):
        line.append(random_text(rng), rng.choice(STYLES))

    def show(console: PlainConsole | RichConsole) -> None:
        console.print(line, soft_wrap=rng.random() < 0.5)
        console.print()
        print_fields(console, [("status", Cell(line.plain, "good")), ("a longer label", Cell("x"))])

    state = rng.getstate()
    plain = io.StringIO()
    show(PlainConsole(plain, PIPE_WIDTH))
    rng.setstate(state)
    rich = io.StringIO()
    show(RichConsole(file=rich, highlight=False, width=PIPE_WIDTH))
    assert plain.getvalue() == rich.getvalue()


@pytest.mark.parametrize(
    "text",
    [
        "x" * (PIPE_WIDTH + 7) + " and more words to wrap",  # longer than the console: rich wraps it
        "a\tb",  # rich expands tabs
        "bell\x07 and \r carriage return",  # rich drops some control characters
        "wide 日本語",
        "combining e\u0301",
        "[bold]markup[/bold] in a string",
        "an emoji code :smile:",
        "trailing spaces   ",
    ],
)
def test_what_the_plain_console_cannot_write_goes_to_rich(text: str) -> None:
    def show(console: PlainConsole | RichConsole) -> None:
        console.print(text)
        console.print(Line(text, "dim"))
        console.print(Line(text), soft_wrap=True)

    plain, rich = both(show)
    assert plain == rich


def test_the_characters_taken_as_plain_are_one_cell_each_for_rich() -> None:
    for character in SAFE_CHARACTERS:
        assert cell_len(character) == 1, character
        assert simple(character)
    assert not simple("日") and not simple("\t") and not simple("e\u0301") and not simple("\x1b[31m")


def test_the_console_is_plain_only_where_rich_would_not_see_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(make_console(io.StringIO()), PlainConsole)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert isinstance(make_console(io.StringIO()), RichConsole)  # rich colours a pipe when asked to
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    assert isinstance(make_console(io.StringIO()), PlainConsole)
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert isinstance(make_console(io.StringIO()), RichConsole)


def test_a_rich_console_renders_lines_with_their_styles() -> None:
    out = io.StringIO()
    console = RichConsole(file=out, force_terminal=True, color_system="standard", width=80, no_color=False)
    console.print(Line("ok", "green").append(" and ").append("bad", "bold red"))
    assert out.getvalue() == "\x1b[32mok\x1b[0m and \x1b[1;31mbad\x1b[0m\n"


def test_simple_output_does_not_import_rich() -> None:
    import subprocess

    probe = (
        "import io, sys\n"
        "from anubis.presenting.output import make_console\n"
        "from anubis.presenting.tables import Cell, Column, TableView, print_table\n"
        "from anubis.presenting.plain import Line\n"
        "console = make_console(io.StringIO())\n"
        "view = TableView(columns=[Column('a', 'a'), Column('n', 'n', 'right')], title='T')\n"
        "view.rows.append({'a': Cell('x — y', 'good'), 'n': Cell('1')})\n"
        "print_table(console, view)\n"
        "console.print(Line('done', 'dim'))\n"
        "print('rich' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == "False"
