"""The controller's settings file: the deadlines of each environment's status policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.kubernetes.settings import load_settings
from controller.kubernetes.statuses import StatusPolicy
from schemas.errors import BackendError


def test_deadlines_default_and_per_environment(tmp_path: Path) -> None:
    path = tmp_path / "controller.toml"
    path.write_text('namespaces = ["anubis-runs"]\nimage_pull_grace_seconds = 300\n'
                    "[environments.gpu-cluster]\nunschedulable_deadline_seconds = 1800\n"
                    "workers_ready_deadline_seconds = 3600\n", encoding="utf-8")
    settings = load_settings(path)
    assert settings.default_policy == StatusPolicy(900, 300, 1800)
    assert settings.policy_for("gpu-cluster") == StatusPolicy(1800, 300, 3600)
    assert settings.policy_for("elsewhere") == StatusPolicy(900, 300, 1800)


def test_an_unreadable_file_says_which(tmp_path: Path) -> None:
    path = tmp_path / "controller.toml"
    path.write_text("namespaces = [", encoding="utf-8")
    with pytest.raises(BackendError, match="cannot read the controller settings .*controller.toml"):
        load_settings(path)
