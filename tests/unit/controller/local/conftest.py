"""A runner writing into a temporary folder, observed by a :class:`Recorder`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from unit.controller.local.building import Recorder

from controller.local.runner import LocalConfig, LocalRunner


@pytest.fixture()
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture()
def make_runner(tmp_path: Path, recorder: Recorder) -> Callable[..., LocalRunner]:
    def make(**changes: Any) -> LocalRunner:
        values: dict[str, Any] = dict(
            repo_root=tmp_path / "repo",
            data_dir=tmp_path / "data",
            cache_dir=tmp_path / "cache",
            engine=None,
            grace_seconds=2.0,
        )
        values.update(changes)
        (tmp_path / "repo").mkdir(exist_ok=True)
        return LocalRunner(LocalConfig(**values), observer=recorder)

    return make
