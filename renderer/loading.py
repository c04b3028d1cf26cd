"""Reading a TOML file into data plus the positions of its keys, and checking it against a schema.

Every problem becomes a :class:`~schemas.errors.Problem` naming the file, the line and column of the
offending key, the field's dotted path and a sentence saying what to do.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from renderer.compiled_schemas import CompiledSchema
from renderer.locating import KeyPositions, locate_keys
from renderer.scripts import read_at_most
from schemas.errors import DescriptorError, Problem
from schemas.loading import load_schema

if TYPE_CHECKING:  # jsonschema explains what the compiled check refuses: imported only then
    import jsonschema

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)|\(at end of document\)")


@dataclass(frozen=True)
class TomlDocument:
    """A parsed TOML file, with its text to find where each key is written."""

    path: str  # as shown in messages (relative to the repository when possible)
    text: str
    data: dict[str, Any]

    @functools.cached_property
    def positions(self) -> KeyPositions:
        """Where each key is written: found when the first problem is reported (most files have none)."""
        return locate_keys(self.text)

    def problem(self, field: Sequence[str | int], message: str, *, severity: str = "error") -> Problem:
        line, column = self.positions.find(field)
        return Problem(self.path, line, column, dotted(field), message, severity)  # type: ignore[arg-type]


def dotted(path: Iterable[str | int]) -> str:
    """``("data", "sources", 1, "md5")`` → ``data.sources[1].md5``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def display_path(path: Path, root: Path | None) -> str:
    if root is not None:
        try:  # as written first: a link is shown where it is, not where it points
            return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
        except ValueError:
            pass
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


TOML_SIZE_LIMIT = 256 * 1024  # a descriptor or an environment; the run's annotations hold less than this
NESTING_LIMIT = 24  # tables and arrays inside each other; the deepest legitimate descriptor has 5


def read_bounded(path: Path, shown_as: str, limit: int = TOML_SIZE_LIMIT) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them. A FIFO, a device or a socket is
    refused without reading (the open does not block: ``O_NONBLOCK``, then ``fstat``); the limit counts
    the bytes read, not what ``stat`` says. Raises DescriptorError."""

    def refuse(message: str) -> DescriptorError:
        return DescriptorError([Problem(shown_as, 1, 1, "", message)])

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise refuse("file not found") from None
    except OSError as e:
        raise refuse(f"cannot read the file: {e.strerror}") from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise refuse("not a regular file (a pipe, a device or a socket); commit the file itself")
        data = read_at_most(fd, limit)
    except OSError as e:
        raise refuse(f"cannot read the file: {e.strerror}") from e
    finally:
        os.close(fd)
    if len(data) > limit:
        raise refuse(f"the file is larger than {limit // 1024} KiB; a descriptor this large is not plausible, shorten it")
    return data


def read_toml(path: Path, shown_as: str) -> TomlDocument:
    """Read and parse a TOML file; a syntax error names its line. Raises DescriptorError."""
    raw = read_bounded(path, shown_as)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DescriptorError(
            [Problem(shown_as, line, 1, "", "the file is not valid UTF-8; save it as UTF-8")]
        ) from e
    return parse_toml(text, shown_as)


def parse_toml(text: str, shown_as: str) -> TomlDocument:
    depth, line = _bracket_depth(text)
    if depth > NESTING_LIMIT:
        raise DescriptorError(
            [Problem(shown_as, line, 1, "", f"arrays and inline tables nest more than {NESTING_LIMIT} deep; flatten them")]
        )
    try:
        data = tomllib.loads(text)
    except RecursionError:  # pragma: no cover - the bracket count above stops this first
        raise DescriptorError([Problem(shown_as, 1, 1, "", "the document nests too deeply; flatten it")]) from None
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        m = _TOML_POSITION.search(message)
        line, column = (int(m.group(1)), int(m.group(2))) if m and m.group(1) else (text.count("\n") + 1, 1)
        reason = _TOML_POSITION.sub("", message).strip()
        raise DescriptorError(
            [Problem(shown_as, line, column, "", f"TOML syntax error: {reason}; fix the syntax on this line")]
        ) from e
    document = TomlDocument(shown_as, text, data)
    deep = _too_deep(data, NESTING_LIMIT)
    if deep is not None:
        line, column = document.positions.find(deep)
        raise DescriptorError(
            [Problem(shown_as, line, column, dotted(deep[:NESTING_LIMIT]), f"tables and arrays nest more than"
                     f" {NESTING_LIMIT} deep; flatten them")]
        )
    return document


def _too_deep(data: Any, limit: int) -> tuple[str | int, ...] | None:
    """The path of a value nested deeper than ``limit`` (dotted keys nest without brackets), or None.
    Iterative, so that the check itself cannot exhaust the stack."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > limit:
            return path
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
    return None


# What can change the state of the scan below: outside strings, and inside each kind of string.
_OUTSIDE = re.compile(r"[\n#\"'\[\]{}]")
_IN_STRING = {
    '"': re.compile(r'[\n\\"]'), '"""': re.compile(r'[\n\\"]'), "'": re.compile(r"[\n']"), "'''": re.compile(r"[\n']"),
}


def _bracket_depth(text: str) -> tuple[int, int]:
    """The deepest nesting of ``[``/``{`` in ``text`` outside strings and comments, and its line: an
    upper bound of the nesting of the values ``tomllib`` will build (it recurses once per level).
    Jumps from one character that matters to the next (a newline, a quote, a backslash in a string,
    a bracket, a comment)."""
    depth = deepest = 0
    line = where = 1
    i, n = 0, len(text)
    quote = ""
    while i < n:
        found = (_IN_STRING[quote] if quote else _OUTSIDE).search(text, i)
        if found is None:
            break
        i = found.start()
        ch = text[i]
        if ch == "\n":
            line += 1
            if quote in ('"', "'"):
                quote = ""  # a one-line string cannot span lines; tomllib reports the error
        elif quote:
            if ch == "\\":  # only looked for in basic strings: the escaped character is skipped, whatever it is
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith('"""', i) or text.startswith("'''", i):
            quote = text[i : i + 3]
            i += 3
            continue
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, line
        else:  # ] or }
            depth = max(0, depth - 1)
        i += 1
    return deepest, where


def schema_problems(doc: TomlDocument, schema_name: str, data: Any | None = None) -> list[Problem]:
    """Every way ``data`` (default: the document's) breaks ``schemas/<schema_name>.schema.json``."""
    instance = doc.data if data is None else data
    if _compiled(schema_name).accepts(instance):  # valid: nothing to explain
        return []
    schema = load_schema(schema_name)
    validator = _validator(schema_name)
    problems = [
        _explain(doc, error, schema)
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]
    unique: dict[tuple[int, str, str], Problem] = {}
    for p in problems:
        unique.setdefault((p.line, p.field, p.message), p)
    return sorted(unique.values(), key=lambda p: (p.line, p.column, p.field))


@functools.cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    import jsonschema  # about 50 ms: only for a document the compiled check refused

    return jsonschema.Draft202012Validator(load_schema(schema_name))


@functools.cache
def _compiled(schema_name: str) -> CompiledSchema:
    return CompiledSchema(schema_name)


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _expected(types: Any) -> str:
    names = {
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "array": "an array",
        "object": "a table",
    }
    if isinstance(types, list):
        return " or ".join(names.get(str(t), str(t)) for t in types)
    return names.get(types, str(types))


def _explain(doc: TomlDocument, error: jsonschema.ValidationError, schema: dict[str, Any]) -> Problem:
    path = list(error.absolute_path)
    v = error.validator
    inst = error.instance
    if v == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else "?"
        where = path + [name]
        return doc.problem(path, f"missing required field '{name}'; add it{_section_hint(where)}") if path else (
            Problem(doc.path, 1, 1, name, f"missing required field '{name}'; add it")
        )
    if v == "additionalProperties":
        extras = re.findall(r"'([^']+)'", error.message.split("(")[-1])
        allowed = sorted(error.schema.get("properties", {}))
        name = extras[0] if extras else "?"
        hint = difflib.get_close_matches(name, allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else (f"; allowed: {', '.join(allowed)}" if allowed else "")
        return doc.problem(path + [name], f"unknown field '{name}'{suggestion}")
    if v == "enum":
        options = ", ".join(repr(o) for o in error.validator_value)
        return doc.problem(path, f"must be one of {options} (got {_shorten(inst)})")
    if v == "const":
        return doc.problem(path, f"must be {error.validator_value!r} (got {inst!r})")
    if v == "type":
        return doc.problem(path, f"must be {_expected(error.validator_value)}, not {_type_name(inst)}")
    if v == "pattern" and "propertyNames" in error.schema_path:
        return doc.problem(path + [inst], _pattern_message(path, inst, "", key=True))
    if v == "pattern":
        return doc.problem(path, _pattern_message(path, inst, str(error.validator_value)))
    if v == "propertyNames":
        bad = inst if isinstance(inst, str) else "?"
        return doc.problem(path, _pattern_message(path, bad, "", key=True))
    if v == "maxProperties":
        return doc.problem(path, f"has {len(inst)} entries; at most {error.validator_value} are allowed")
    if v == "minProperties":
        return doc.problem(path, f"needs at least {error.validator_value} entr{'y' if error.validator_value == 1 else 'ies'}")
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "more than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[v]
        return doc.problem(path, f"must be {words} {error.validator_value} (got {_shorten(inst)})")
    if v == "minItems":
        return doc.problem(path, f"needs at least {error.validator_value} item(s)")
    if v == "minLength":
        return doc.problem(path, "must not be empty")
    if v == "maxLength":
        return doc.problem(
            path, f"is {len(inst)} characters long; at most {error.validator_value} are allowed here: shorten it"
        )
    if v == "maxItems":
        return doc.problem(path, f"has {len(inst)} items; at most {error.validator_value} are allowed")
    if v == "not" and isinstance(inst, str) and "u001f" not in str(error.validator_value):
        return doc.problem(path, f"{_shorten(inst)} is not allowed: {error.schema.get('description', 'see the schema')}")
    if v == "not" and isinstance(inst, str):
        bad = next((c for c in inst if ord(c) < 0x20 or ord(c) == 0x7F), "?")
        what = "property name" if "propertyNames" in error.schema_path else "value"
        rule = (
            "it may hold tabs and newlines but no other control character"
            if "u000b" in str(error.validator_value)
            else "it must be one line of printable text"
        )
        return doc.problem(
            path + ([inst] if what == "property name" else []),
            f"the {what} {_shorten(inst)} holds the control character {bad!r}; {rule}: remove it",
        )
    if v == "oneOf":
        if path and path[-2:-1] in (["sources"], ["models"]) or (isinstance(inst, dict) and "path" in inst):
            if isinstance(inst, dict) and "src" in inst and "uri" in inst:
                return doc.problem(path, "give either src or the deprecated uri, not both")
            return doc.problem(path, "missing required field 'src' (the URL to download); add it")
        joined = dotted(path)
        if joined.endswith(("timeout", "deadline", "processes_per_instance")):
            return doc.problem(path, _pattern_message(path, inst, ""))
        description = error.schema.get("description", "")
        detail = f": {description}" if description else ""
        return doc.problem(path, f"has an invalid value {_shorten(inst)}{detail}")
    return doc.problem(path, error.message)


def _shorten(value: Any, limit: int = 100) -> str:
    """``repr(value)``, cut short: a message must not repeat a megabyte the user wrote."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _section_hint(where: list[Any]) -> str:
    if len(where) == 1:
        return " at the top of the file"
    parent = dotted(where[:-1])
    return f" under [{parent}]"


def _pattern_message(path: list[Any], value: Any, pattern: str, key: bool = False) -> str:
    joined = dotted(path)
    if key and joined.startswith("matrix.axes"):
        return f"matrix axis {_shorten(value)} must be a dotted descriptor field such as 'hardware.instance_type'"
    if "labels" in joined:
        what = "label key" if key else "label value"
        return (
            f"{what} {_shorten(value)} is not valid: use at most 63 characters, letters, digits, '-', '_' and '.',"
            " starting and ending with a letter or digit"
        )
    if joined.endswith("md5"):
        return f"checksum {_shorten(value)} is not valid: give 32 hex digits (MD5) or 'algorithm:hexdigest' such as 'sha256:…'"
    if "timeout" in joined or "deadline" in joined:
        return f"duration {_shorten(value)} is not valid: give seconds, or a number with s, m, h or d such as '30m'"
    if joined.startswith("matrix.axes"):
        return f"matrix axis {_shorten(value)} must be a dotted descriptor field such as 'hardware.instance_type'"
    if joined.endswith("processes_per_instance"):
        return f"must be \"gpus\" or a positive number (got {_shorten(value)})"
    if joined.endswith(".name"):
        return f"metric name {_shorten(value)} must start with a letter or '_' and hold only letters, digits and '_'"
    if joined.endswith("environment"):
        return f"environment name {_shorten(value)} must be lower-case letters, digits and '-'"
    return f"{_shorten(value)} does not match the expected form ({pattern})"


def raise_if_errors(problems: list[Problem]) -> None:
    if any(p.severity == "error" for p in problems):
        raise DescriptorError(problems)
