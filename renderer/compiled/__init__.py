"""Compiled checks of the JSON Schemas every command checks, generated from ``schemas/*.schema.json`` by
:func:`renderer.compiled_schemas.generated_code` (one module a schema, :data:`~renderer.compiled_schemas.SHIPPED`).
Do not edit them: ``ANUBIS_REGENERATE=1 python -m pytest tests/unit/renderer/test_compiled_schemas.py``
rewrites them, and that test fails while one differs from what the schema gives."""
