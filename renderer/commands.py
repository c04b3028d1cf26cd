"""Turning ``benchmark_code``/``args``/``start_command`` strings into argument vectors.

The strings are split the way a POSIX shell splits words, but no shell runs them. A string that
relies on shell syntax (pipes, ``&&``, redirections, globs in a ``;`` list…) is refused with a hint to
write the shell explicitly (``sh -c '…'``), so what runs is exactly what the descriptor says.
"""

from __future__ import annotations

import functools
import re
import shlex

_K8S_VARIABLE = re.compile(r"\$\([A-Za-z_][A-Za-z0-9_]*\)")  # $(VAR), expanded like Kubernetes does
_OPERATORS = {"|", "||", "&", "&&", ";", ";;", "<", ">", ">>", "<<", "(", ")", ">&", "<&", "|&"}
SHELLS = {"sh", "bash", "zsh", "dash", "ash", "ksh", "/bin/sh", "/bin/bash", "/usr/bin/env"}


def split_command(text: str) -> list[str]:
    """Split like a shell would; raise ValueError with a sentence when that is impossible or unsafe."""
    words = _split(text)
    if isinstance(words, str):
        raise ValueError(words)
    return list(words)


@functools.lru_cache(maxsize=256)  # commands are at most 16 KiB: a few MiB at most
def _split(text: str) -> tuple[str, ...] | str:
    """The words of ``text``, or why it cannot be split (shlex is slow, and the same command is split
    for the rules and for the RunSpec, at every matrix point)."""
    try:
        return tuple(_split_uncached(text))
    except ValueError as e:
        return str(e)


def _split_uncached(text: str) -> list[str]:
    try:
        words = shlex.split(text, comments=False, posix=True)
    except ValueError as e:
        raise ValueError(f"cannot split the command ({e}); check the quotes") from e
    lexer = shlex.shlex(_K8S_VARIABLE.sub("VAR", text), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # pragma: no cover - shlex.split above already failed for this
        tokens = words
    operators = [t for t in tokens if t in _OPERATORS]
    if operators and not (words and words[0] in SHELLS):
        raise ValueError(
            f"uses shell syntax ({operators[0]!r}) but no shell runs the command; "
            f"write the shell explicitly, e.g. sh -c {shlex.quote(text)}"
        )
    return words
