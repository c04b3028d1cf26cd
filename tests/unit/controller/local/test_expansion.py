"""``$(VAR)`` expansion with Kubernetes semantics."""

from __future__ import annotations

import pytest

from controller.local.expansion import expand, expand_all, expand_env

VARS = {"A": "1", "PATH_TO": "/opt/x", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(A)", "x1y1"),
        ("$(PATH_TO)/train.py", "/opt/x/train.py"),
        ("$(EMPTY)z", "z"),
        ("$(UNKNOWN)", "$(UNKNOWN)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$1"),
        ("$$", "$"),
        ("$A", "$A"),
        ("cost: 5$", "cost: 5$"),
        ("$(A", "$(A"),
        ("$()", "$()"),
        ("", ""),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, VARS) == expected


def test_expand_all_keeps_arguments_apart() -> None:
    assert expand_all(["python", "$(PATH_TO)/t.py", "--n", "$(A) $(A)"], VARS) == ["python", "/opt/x/t.py", "--n", "1 1"]


def test_env_values_see_earlier_variables_only() -> None:
    env = expand_env({"BASE": "/b"}, {"FIRST": "$(BASE)/1", "SECOND": "$(FIRST)/2", "EARLY": "$(LATER)", "LATER": "x"})
    assert env == {"BASE": "/b", "FIRST": "/b/1", "SECOND": "/b/1/2", "EARLY": "$(LATER)", "LATER": "x"}
