"""Fixtures of the renderer tests (the cases themselves live in manifest_cases.py, importable by name)."""

from manifest_cases import render_case

__all__ = ["render_case"]
