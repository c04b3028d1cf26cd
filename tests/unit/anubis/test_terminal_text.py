"""Neutralising a benchmark's output for a terminal: sequences removed, controls shown, \\r readable."""

from __future__ import annotations

import io

import pytest

from anubis.presenting.terminal_text import MAX_PENDING, TerminalText, TerminalWriter, neutralise

CASES = [
    ("plain text\twith tab\n", "plain text\twith tab\n"),
    ("\x1b[31mred\x1b[0m", "red"),  # SGR colour
    ("\x1b[2J\x1b[H\x1b[?25l", ""),  # clear screen, home, hide cursor
    ("\x1b]0;title\x07after", "after"),  # window title, BEL-terminated
    ("\x1b]52;c;ZXZpbA==\x1b\\after", "after"),  # clipboard write, ST-terminated
    ("\x1bPqsixel\x1b\\x", "x"),  # DCS
    ("\x9b31mred", "red"),  # 8-bit CSI
    ("\x1bcreset", "reset"),  # RIS
    ("50%\r100%\r\n", "50%\n100%\n"),
    ("bell\x07 nul\x00 del\x7f", "bell\\x07 nul\\x00 del\\x7f"),
    ("\u202eevil\u2066", "\\u202eevil\\u2066"),  # bidirectional overrides
    ("lone \x1b\n", "lone \\x1b\n"),
    ("ünïcödé 中文", "ünïcödé 中文"),
]


@pytest.mark.parametrize(("raw", "shown"), CASES)
def test_neutralise(raw: str, shown: str) -> None:
    assert neutralise(raw) == shown


@pytest.mark.parametrize(("raw", "shown"), CASES)
def test_a_sequence_split_anywhere_between_chunks_is_still_recognised(raw: str, shown: str) -> None:
    for cut in range(len(raw) + 1):
        stream = TerminalText()
        assert stream.feed(raw[:cut]) + stream.feed(raw[cut:]) + stream.flush() == shown, cut


def test_an_unterminated_sequence_is_not_held_for_ever() -> None:
    stream = TerminalText()
    out = stream.feed("\x1b]0;" + "x" * (MAX_PENDING + 10))
    assert out and "\x1b" not in out
    assert stream.feed("\x1b[3") == ""  # held: the next chunk may finish it
    assert stream.flush() == "3"  # an unfinished CSI: its introducer dropped


def test_the_writer_decodes_utf8_split_between_chunks() -> None:
    out = io.StringIO()
    writer = TerminalWriter(out)
    data = "é\x1b[1mb\r".encode()
    for i in range(len(data)):
        writer.write(data[i : i + 1])
    writer.close()
    assert out.getvalue() == "éb\n"
