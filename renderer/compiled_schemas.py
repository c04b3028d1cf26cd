"""The fast "valid" of a JSON Schema, for the many documents one ``anubis render`` checks.

``jsonschema`` walks the schema for every document: about 2 ms a descriptor, the largest single cost
of rendering a repository. ``fastjsonschema`` compiles a schema to Python once (about 40 ms for the
descriptor schema, without detailed exceptions) and then answers in about 0.1 ms. Only its *valid*
is taken: a document it rejects is checked again by ``jsonschema``, which finds every problem and says
it (:func:`renderer.loading.schema_problems`). So the compiled code may be stricter than
``jsonschema``, never more lenient, and the schema is prepared so that both mean the same:

* fastjsonschema implements draft-07, where the keywords beside a ``$ref`` are ignored; in 2020-12 they
  apply too. Every ``$ref`` is inlined (a ``$ref`` with siblings becomes ``allOf``), which means the
  same in both drafts; a recursive or non-local ``$ref`` leaves the schema uncompiled;
* fastjsonschema turns every unescaped ``$`` of a pattern into ``\\Z``, which no longer matches before
  a final newline (a ``$`` under ``not`` would then let through what it should refuse). Each ``$`` is
  written as ``(?=\\n?\\Z)`` first, exactly Python's ``$``; a ``$`` inside ``[...]`` leaves the schema
  uncompiled;
* a ``not`` raises and catches an exception in the compiled code each time it holds: the usual
  ``"not": {"type": "string", "pattern": P}`` (no control character) is written as the pattern
  ``^(?![\\s\\S]*(?:P))``, which a string matches exactly when P is found nowhere in it (other types:
  valid either way);
* ``enum`` and ``const`` compare with ``==`` there (``True == 1``), type-aware in jsonschema: only
  string values are compiled (a ``const`` as an ``enum`` of one);
* ``format`` is an annotation: :func:`renderer.loading.schema_problems`' validator has no format
  checker, so jsonschema asserts no format either (it is dropped, and fastjsonschema runs without formats);
* ``if``/``then``/``else`` (draft-07's, unchanged in 2020-12) are compiled as they are;
* any keyword outside :data:`KEYWORDS` leaves the schema uncompiled (``jsonschema`` alone checks it).

The schemas every command checks (:data:`SHIPPED`: the descriptor, the environment) ship compiled, as
the modules ``renderer/compiled/<name>.py`` that :func:`generated_code` writes: a valid document costs
neither ``jsonschema`` (about 50 ms to import) nor ``fastjsonschema`` (its code generator) nor a
compilation, which is what ``anubis run`` and ``anubis validate FILE`` need. Each module carries the
SHA-256 of the schema file it was made from; one that no longer matches is not used (the schema is then
compiled as below), and ``tests/unit/renderer/test_compiled_schemas.py`` fails until it is regenerated
(``ANUBIS_REGENERATE=1``). Other schemas are compiled after :data:`COMPILE_AFTER` documents, so that
checking one document does not pay for it. The tests check that both validators agree on every
descriptor and environment the tests have and on random mutations of them.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable
from typing import Any

from schemas.loading import load_schema, schema_text

#: Documents checked with ``jsonschema`` alone before the schema is compiled (a few times its cost).
COMPILE_AFTER = 64

#: The schemas whose compiled check ships as ``renderer/compiled/<name>.py`` (see the module's docstring).
SHIPPED = ("descriptor", "environment")

#: Keywords that mean the same in draft-07 (fastjsonschema) and 2020-12 (jsonschema), once prepared.
KEYWORDS = frozenset({
    "type", "properties", "additionalProperties", "required", "pattern", "maxLength", "minLength", "enum",
    "const", "oneOf", "anyOf", "allOf", "not", "if", "then", "else", "propertyNames", "maxProperties",
    "minProperties", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "maxItems",
    "uniqueItems",
    # annotations and structure, not checked
    "$ref", "$defs", "$id", "$schema", "$comment", "title", "description", "default", "deprecated", "examples",
    "format",  # an annotation here: no format checker (renderer.loading)
})  # fmt: skip
_SCHEMA_MAPS = frozenset({"properties", "$defs"})  # name → schema
_SCHEMA_LISTS = frozenset({"oneOf", "anyOf", "allOf"})
_SCHEMAS = frozenset({"additionalProperties", "not", "propertyNames", "items", "if", "then", "else"})
_DROPPED = frozenset({"$ref", "$defs", "$schema", "$id", "format"})


class Unsupported(Exception):
    """The schema uses something the compiled code would not read as jsonschema does."""


class CompiledSchema:
    """One schema's compiled check, built on first need; :meth:`accepts` is True only for a valid document."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.checked = 0
        self._check: Callable[[Any], Any] | None = None
        self._unsupported = False

    def accepts(self, data: Any) -> bool:
        """True: ``data`` is valid. False: it may not be (ask ``jsonschema``)."""
        self.checked += 1
        check = self._check
        if check is None:
            if self.checked == 1:
                check = self._check = shipped_check(self.name)
            if check is None:
                if self._unsupported or self.checked <= COMPILE_AFTER:
                    return False
                try:
                    check = self._check = compile_schema(load_schema(self.name))
                except Unsupported:
                    self._unsupported = True
                    return False
        try:
            check(data)
        except Exception:  # noqa: BLE001 - its JsonSchemaValueException, or anything odd: jsonschema decides
            return False
        return True


def compile_schema(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """fastjsonschema's check of ``schema``, prepared as the module says. Raises :class:`Unsupported`."""
    import fastjsonschema  # only where many documents are checked

    prepared = prepare(schema)
    try:
        return fastjsonschema.compile(
            prepared, use_default=False, use_formats=False, detailed_exceptions=False
        )
    except fastjsonschema.JsonSchemaDefinitionException as e:
        raise Unsupported(str(e)) from e


def schema_digest(name: str) -> str:
    """The SHA-256 of ``schemas/<name>.schema.json`` as shipped: what a compiled module was made from."""
    return hashlib.sha256(schema_text(name).encode("utf-8")).hexdigest()


def shipped_check(name: str) -> Callable[[Any], Any] | None:
    """The check shipped in ``renderer/compiled/<name>.py``; None when none ships or it was made from
    another version of the schema (stale: the schema is compiled instead)."""
    if name not in SHIPPED:
        return None
    module = importlib.import_module(f"renderer.compiled.{name}")
    if getattr(module, "SCHEMA_SHA256", None) != schema_digest(name):
        return None
    check: Callable[[Any], Any] = module.validate
    return check


#: fastjsonschema's generated code imports its exceptions from the package, whose import brings its
#: whole code generator: the shipped modules define the two classes instead (a failed check is only
#: "not valid" here; jsonschema says why).
_PACKAGE_IMPORT = "from fastjsonschema import JsonSchemaValueException, JsonSchemaValuesException\n"
_OWN_EXCEPTIONS = '''

class JsonSchemaValueException(ValueError):
    def __init__(self, message, value=None, name=None, definition=None, rule=None):
        super().__init__(message)


class JsonSchemaValuesException(ValueError):
    def __init__(self, errors):
        super().__init__(errors)

'''


def generated_code(name: str) -> str:
    """The text of ``renderer/compiled/<name>.py``: fastjsonschema's code for the prepared schema
    ``schemas/<name>.schema.json``, with the schema's SHA-256. Raises :class:`Unsupported`."""
    import fastjsonschema

    try:
        code: str = fastjsonschema.compile_to_code(
            prepare(load_schema(name)), use_default=False, use_formats=False, detailed_exceptions=False
        )
    except fastjsonschema.JsonSchemaDefinitionException as e:
        raise Unsupported(str(e)) from e
    if _PACKAGE_IMPORT not in code:
        raise Unsupported(f"fastjsonschema {fastjsonschema.VERSION} no longer writes {_PACKAGE_IMPORT.strip()!r}")
    header = (
        f"# The check of schemas/{name}.schema.json, generated by renderer.compiled_schemas.generated_code: do not edit.\n"
        "# Regenerate: ANUBIS_REGENERATE=1 python -m pytest tests/unit/renderer/test_compiled_schemas.py\n"
        "# ruff: noqa\n"
        "# mypy: ignore-errors\n"
        f'SCHEMA_SHA256 = "{schema_digest(name)}"\n'
    )
    return header + code.replace(_PACKAGE_IMPORT, _OWN_EXCEPTIONS, 1)


def prepare(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every local ``$ref`` inlined and every pattern's ``$`` spelt out; ``$schema`` and
    ``$defs`` dropped. Raises :class:`Unsupported`."""
    if not isinstance(schema, dict):
        raise Unsupported("the schema is not an object")

    def resolve(ref: str, stack: tuple[str, ...]) -> Any:
        if not ref.startswith("#/") or ref in stack:
            raise Unsupported(f"$ref {ref!r} is not local, or is recursive")
        node: Any = schema
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise Unsupported(f"$ref {ref!r} leads nowhere")
            node = node[part]
        if not isinstance(node, dict):
            raise Unsupported(f"$ref {ref!r} is not a schema object")
        return walk(node, (*stack, ref))

    def walk(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            raise Unsupported(f"{node!r} is not a schema")
        unknown = set(node) - KEYWORDS
        if unknown:
            raise Unsupported(f"keywords {sorted(unknown)}")
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED:
                continue
            if key in _SCHEMA_MAPS:
                out[key] = {name: walk(sub, stack) for name, sub in value.items()}
            elif key in _SCHEMA_LISTS:
                out[key] = [walk(sub, stack) for sub in value]
            elif key in _SCHEMAS:
                if key == "items" and isinstance(value, list):
                    raise Unsupported("items as a list (prefixItems in 2020-12)")
                out[key] = walk(value, stack)
            elif key == "pattern":
                out[key] = spell_dollar(value)
            elif key in ("enum", "const"):
                values = value if key == "enum" else [value]
                if not all(isinstance(v, str) for v in values):
                    raise Unsupported(f"{key} with a value that is not a string")
                out["enum"] = list(values)  # a const as the enum of one: fastjsonschema fails to write
                # a const's message without detailed exceptions
            else:
                out[key] = value
        refused = _refused_pattern(out.get("not"))
        if refused is not None:  # see the module's docstring
            del out["not"]
            out["allOf"] = [*out.get("allOf", []), {"pattern": f"^(?![\\s\\S]*(?:{refused}))"}]
        if "$ref" in node:
            target = resolve(node["$ref"], stack)
            return {"allOf": [target], **out} if out else target
        return out

    prepared: dict[str, Any] = walk(schema, ())
    return prepared


_ANNOTATIONS = frozenset({"$comment", "title", "description", "default", "deprecated", "examples"})


def _refused_pattern(schema: Any) -> str | None:
    """P of ``{"type": "string", "pattern": P}`` (annotations aside), else None."""
    if not isinstance(schema, dict) or schema.get("type") != "string" or not isinstance(schema.get("pattern"), str):
        return None
    if set(schema) - _ANNOTATIONS != {"type", "pattern"}:
        return None
    pattern: str = schema["pattern"]
    return pattern


def spell_dollar(pattern: str) -> str:
    """``pattern`` with each unescaped ``$`` outside ``[...]`` written as ``(?=\\n?\\Z)`` (the same
    match), so that no ``$`` is left for fastjsonschema to rewrite. Raises :class:`Unsupported`."""
    out: list[str] = []
    i, in_set = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_set:
            if ch == "$":
                raise Unsupported(f"pattern {pattern!r} has '$' inside [...]")
            if ch == "]" and pattern[i - 1] != "[" and pattern[i - 2 : i] != "[^":
                in_set = False
        elif ch == "[":
            in_set = True
        elif ch == "$":
            out.append(r"(?=\n?\Z)")
            i += 1
            continue
        out.append(ch)
        i += 1
    spelt = "".join(out)
    try:
        re.compile(spelt)
    except re.error as e:
        raise Unsupported(f"pattern {pattern!r}: {e}") from e
    return spelt
