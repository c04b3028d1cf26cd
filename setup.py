"""The one thing pyproject.toml cannot say with this setuptools: the optional C accelerator of metric
extraction (controller/_linescan.c). ``optional=True``: without a C compiler the install goes on
without it, and controller/matching.py runs the same patterns on Python's re or RE2 (same values).

``ANUBIS_PURE_WHEEL=1`` builds without it: the release's ``py3-none-any`` wheel, for platforms that have
no binary wheel (PyPI refuses a plain ``linux_x86_64`` one; the binary wheels are manylinux, built by
cibuildwheel in .github/workflows/release.yml)."""

import os

from setuptools import Extension, setup

PURE = os.environ.get("ANUBIS_PURE_WHEEL") == "1"
setup(ext_modules=[] if PURE else [Extension("controller._linescan", ["controller/_linescan.c"], optional=True)])
