"""A benchmark's output made safe to show on a terminal.

Output is the benchmark's, and a terminal obeys what it is sent: escape sequences move the cursor,
clear the screen, set the window title, hide text, write the clipboard (OSC 52) or, on some
terminals, answer back into the input (ECMA-48; xterm's "Control Sequences"). So on a terminal,
``run``, ``logs`` and ``search`` show that output *neutralised*:

* escape sequences (CSI ``ESC [``, OSC ``ESC ]`` and the other string sequences, two-character
  ``ESC x``, and their 8-bit forms) are removed: colours and cursor moves are dropped, their text kept;
* ``\\r\\n`` becomes ``\\n`` and a lone ``\\r`` (a progress bar redrawing its line) a new line, so each
  update stays readable instead of overwriting what the terminal shows;
* every other control character (C0 but ``\\n`` and ``\\t``, DEL, C1) and the Unicode bidirectional
  overrides are shown escaped (``\\x07``, ``\\u202e``).

Piped output and stored logs are the benchmark's bytes, unchanged. :class:`TerminalText` works on a
stream (a sequence split between two chunks is still recognised); :func:`neutralise` on whole text.
"""

from __future__ import annotations

import codecs
import re
from typing import IO, Protocol

#: A sequence longer than this without its end is not held back any longer (shown escaped).
MAX_PENDING = 4096

_TOKEN = re.compile(
    r"""
      \x1b\[[0-?]*[\ -/]*[@-~]                          # CSI
    | \x9b[0-?]*[\ -/]*[@-~]                            # 8-bit CSI
    | \x1b[\]PX^_][^\x07\x1b\x90\x98\x9c-\x9f]*(?:\x07|\x1b\\|\x9c)  # OSC, DCS, SOS, PM, APC ... BEL or ST
    | [\x90\x98\x9d\x9e\x9f][^\x07\x1b\x90\x98\x9c-\x9f]*(?:\x07|\x1b\\|\x9c)
    | \x1b[\ -/]*[0-~]                                  # two-character (and nF) escapes
    | \r\n?
    | [\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]
    """,
    re.VERBOSE,
)
#: What may be the start of a token that the next chunk completes.
_UNFINISHED = re.compile(
    r"(?:\x1b(?:\[[0-?]*[\ -/]*|[\]PX^_][^\x07\x1b\x90\x98\x9c-\x9f]*\x1b?|[\ -/]*)?"
    r"|\x9b[0-?]*[\ -/]*|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x90\x98\x9c-\x9f]*\x1b?|\r)\Z"
)


def _replace(match: re.Match[str]) -> str:
    token = match.group(0)
    if token[0] == "\r":
        return "\n"
    if len(token) > 1:
        return ""  # an escape sequence
    code = ord(token)
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def neutralise(text: str) -> str:
    """``text`` with escape sequences removed and control characters shown (see the module)."""
    return _TOKEN.sub(_replace, text)


class TerminalText:
    """:func:`neutralise` over a stream of text chunks."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> str:
        text = self._pending + text
        self._pending = ""
        unfinished = _UNFINISHED.search(text)
        if unfinished is not None and len(text) - unfinished.start() <= MAX_PENDING:
            self._pending = text[unfinished.start():]
            text = text[: unfinished.start()]
        return neutralise(text)

    def flush(self) -> str:
        """What is held back, neutralised as it is (the stream ended)."""
        text, self._pending = self._pending, ""
        return neutralise(text)


class ByteOutput(Protocol):
    """Where a command writes a benchmark's bytes: ``sys.stdout.buffer``, or a :class:`TerminalWriter`."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


def byte_output(out: IO[str]) -> ByteOutput:
    """``out``'s bytes as they are, or neutralised when ``out`` is a terminal."""
    if out.isatty():
        return TerminalWriter(out)
    buffer: ByteOutput = out.buffer  # type: ignore[attr-defined]
    return buffer


class TerminalWriter:
    """A binary stream's bytes, decoded (UTF-8, undecodable bytes replaced), neutralised and written
    to the text stream ``out``."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = TerminalText()

    def write(self, data: bytes) -> int:
        self.out.write(self._text.feed(self._decoder.decode(data)))
        return len(data)

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        """Write what was held back (end of output)."""
        self.out.write(self._text.feed(self._decoder.decode(b"", final=True)) + self._text.flush())
        self.out.flush()
