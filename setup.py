"""The one thing pyproject.toml cannot say with this setuptools: the optional C accelerator of metric
extraction (controller/_linescan.c). ``optional=True``: without a C compiler the install goes on
without it, and controller/matching.py runs the same patterns on Python's re or RE2 (same values)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("controller._linescan", ["controller/_linescan.c"], optional=True)])
