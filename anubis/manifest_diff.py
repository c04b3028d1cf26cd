"""``anubis render --diff`` for people: script-mode sources shown as text, a changed run as one diff.

A script-mode run's sources travel base64-encoded in a ConfigMap's ``binaryData`` (``f0``, ``f1`` …),
and any change to them gives the run a new id, so the plain diff of ``manifests/`` is a removed file
and a created one, each with kilobytes of base64. Here, before diffing:

* each ``fN: "<base64>"`` line is replaced by the file it holds, named by the volume item that places
  it (``key: fN`` → ``path: src/train.py``): text files line by line, other files as their size and
  SHA-256;
* the RunSpec annotation (one long line of JSON) is laid out a field per line;
* in each benchmark folder (``<env>/<benchmark>/``), one removed file and one created file are
  diffed against each other, as a rename, so a script edit reads as the lines that changed.

What ``--check`` and the files written compare is untouched: this only changes what is shown.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from anubis.manifest_files import Changes

_RUNSPEC_LINE = re.compile(r'^(?P<indent>\s+)(?P<key>anubis\.dev/runspec): (?P<value>".*")\s*$')
_DATA_LINE = re.compile(r'^(?P<indent>\s+)(?P<key>f\d+): "(?P<data>[A-Za-z0-9+/=]*)"\s*$')
_ITEM_KEY = re.compile(r'^\s*- key: "?(?P<key>f\d+)"?\s*$')
_ITEM_PATH = re.compile(r'^\s*path: "?(?P<path>[^"]+)"?\s*$')


def readable(text: str) -> list[str]:
    """The lines of a rendered manifest with script sources decoded (see the module's docstring)."""
    lines = text.splitlines(keepends=True)
    names: dict[str, str] = {}
    for i, line in enumerate(lines):
        key = _ITEM_KEY.match(line)
        if key:
            for following in lines[i + 1 : i + 4]:
                path = _ITEM_PATH.match(following)
                if path:
                    names[key.group("key")] = path.group("path")
                    break
    out: list[str] = []
    for line in lines:
        runspec = _RUNSPEC_LINE.match(line)
        if runspec is not None:
            out.extend(_runspec_lines(line, runspec))
            continue
        match = _DATA_LINE.match(line)
        if match is None:
            out.append(line)
            continue
        indent, item = match.group("indent"), match.group("key")
        try:
            content = base64.b64decode(match.group("data"), validate=True)
        except (binascii.Error, ValueError):
            out.append(line)
            continue
        name = names.get(item, item)
        try:
            decoded = content.decode("utf-8")
        except UnicodeDecodeError:
            decoded = None
        if decoded is None or "\x00" in decoded:
            digest = hashlib.sha256(content).hexdigest()
            out.append(f"{indent}{item}: # {name}: {len(content)} bytes, sha256 {digest} (binary, not shown)\n")
            continue
        out.append(f"{indent}{item}: # {name} ({len(content)} bytes, decoded for this diff):\n")
        body = decoded.splitlines() or [""]
        out.extend(f"{indent}  | {source_line}\n" for source_line in body)
        if decoded and not decoded.endswith("\n"):
            out.append(f"{indent}  \\ no newline at end of {name}\n")
    return out


def _runspec_lines(line: str, match: re.Match[str]) -> list[str]:
    """The RunSpec annotation (one line of JSON in a string) as indented JSON, a field per line."""
    try:
        spec = json.loads(json.loads(match.group("value")))
    except ValueError:
        return [line]
    indent = match.group("indent")
    pretty = json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return [f"{indent}{match.group('key')}: # the RunSpec, laid out for this diff:\n",
            *(f"{indent}  | {text}\n" for text in pretty)]


def _pairs(changes: Changes) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(removed, created) pairs that replace each other in one benchmark folder, and the rest."""
    removed_by_folder: dict[PurePosixPath, list[str]] = {}
    created_by_folder: dict[PurePosixPath, list[str]] = {}
    for rel in changes.removed:
        removed_by_folder.setdefault(PurePosixPath(rel).parent, []).append(rel)
    for rel in changes.created:
        created_by_folder.setdefault(PurePosixPath(rel).parent, []).append(rel)
    pairs: list[tuple[str, str]] = []
    for folder, removed in removed_by_folder.items():
        created = created_by_folder.get(folder, [])
        if len(removed) == 1 and len(created) == 1:
            pairs.append((removed[0], created[0]))
    paired = {p for pair in pairs for p in pair}
    return (pairs, [r for r in changes.created if r not in paired], [r for r in changes.removed if r not in paired])


def readable_diff(out: Path, desired: Mapping[str, str], changes: Changes) -> str:
    """A unified diff of what ``anubis render`` would change, for a person to read."""
    pairs, created, removed = _pairs(changes)

    def current(rel: str) -> list[str]:
        path = out / rel
        return readable(path.read_text(encoding="utf-8")) if path.exists() else []

    chunks: list[str] = []
    for old_rel, new_rel in pairs:
        chunks.extend(difflib.unified_diff(current(old_rel), readable(desired[new_rel]),
                                           fromfile=f"a/{old_rel}", tofile=f"b/{new_rel}"))
    for rel in sorted(created + changes.changed + removed):
        old = current(rel)
        new = readable(desired[rel]) if rel in desired else []
        chunks.extend(difflib.unified_diff(old, new, fromfile=f"a/{rel}" if old else "/dev/null",
                                           tofile=f"b/{rel}" if rel in desired else "/dev/null"))
    return "".join(chunks)
