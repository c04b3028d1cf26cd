"""``$(VAR)`` expansion in commands and environment values, as Kubernetes does it.

``$(NAME)`` becomes the value of ``NAME`` when the run defines it and stays as written otherwise;
``$$`` is an escaped ``$`` (so ``$$(NAME)`` gives the literal ``$(NAME)``); any other ``$`` is kept.
Only the run's own variables count (the descriptor's ``env``, then those Anubis sets), never this
machine's environment: a command means the same on a laptop and in a pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def expand(text: str, variables: Mapping[str, str]) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : close]
            out.append(variables[name] if name in variables else text[i : close + 1])
            i = close + 1
        else:
            out.append("$")
            i += 1
    return "".join(out)


def expand_all(argv: Sequence[str], variables: Mapping[str, str]) -> list[str]:
    return [expand(arg, variables) for arg in argv]


def expand_env(defined: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """Add ``env`` to ``defined`` in order, each value expanded against what is defined before it."""
    result = dict(defined)
    for name, value in env.items():
        result[name] = expand(value, result)
    return result
