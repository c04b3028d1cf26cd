"""renderer/matrix.py: the points of a matrix and applying one to a descriptor."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_validation import descriptor, make_repo, plan, write_descriptor

from renderer.matrix import apply_point, expand, forbidden_field, point_label, set_field


def test_no_matrix_is_one_empty_point() -> None:
    assert expand(None) == [{}]
    assert expand({}) == [{}]


def test_cross_product_in_axis_then_value_order() -> None:
    points = expand({"axes": {"a.x": [1, 2], "b.y": ["p", "q", "r"]}})
    assert points == [
        {"a.x": 1, "b.y": "p"},
        {"a.x": 1, "b.y": "q"},
        {"a.x": 1, "b.y": "r"},
        {"a.x": 2, "b.y": "p"},
        {"a.x": 2, "b.y": "q"},
        {"a.x": 2, "b.y": "r"},
    ]
    assert [list(p) for p in points] == [["a.x", "b.y"]] * 6


def test_exclude_removes_points_matching_all_its_fields() -> None:
    matrix = {
        "axes": {"a.x": [1, 2], "b.y": ["p", "q"]},
        "exclude": [{"a.x": 1, "b.y": "q"}, {"a.x": 2}],
    }
    assert expand(matrix) == [{"a.x": 1, "b.y": "p"}]


def test_exclude_naming_a_field_outside_the_axes_removes_nothing() -> None:
    matrix = {"axes": {"a.x": [1, 2]}, "exclude": [{"a.x": 1, "c.z": 3}]}
    assert expand(matrix) == [{"a.x": 1}, {"a.x": 2}]


def test_include_adds_a_new_point_after_the_others() -> None:
    matrix = {"axes": {"a.x": [1, 2]}, "include": [{"a.x": 3, "c.z": "extra"}]}
    assert expand(matrix) == [{"a.x": 1}, {"a.x": 2}, {"a.x": 3, "c.z": "extra"}]


def test_include_equal_to_an_existing_point_is_not_added_twice() -> None:
    matrix = {"axes": {"a.x": [1, 2], "b.y": ["p"]}, "include": [{"b.y": "p", "a.x": 2}]}
    assert expand(matrix) == [{"a.x": 1, "b.y": "p"}, {"a.x": 2, "b.y": "p"}]


def test_include_can_bring_back_an_excluded_point() -> None:
    matrix = {"axes": {"a.x": [1, 2]}, "exclude": [{"a.x": 2}], "include": [{"a.x": 2}]}
    assert expand(matrix) == [{"a.x": 1}, {"a.x": 2}]


def test_included_points_are_copies() -> None:
    extra = {"a.x": 3}
    points = expand({"axes": {"a.x": [1]}, "include": [extra]})
    points[-1]["a.x"] = 99
    assert extra == {"a.x": 3}


@pytest.mark.parametrize(
    ("field", "forbidden"),
    [
        ("matrix", True), ("matrix.axes.x", True), ("spec_version", True), ("info.labels", True),
        ("info.labels.task_name", True), ("info.rerun", True), ("info.rerunx", False), ("matrixes.x", False),
        ("info.description", False), ("hardware.instance_type", False), ("env.vars.X", False),
    ],
)
def test_forbidden_fields(field: str, forbidden: bool) -> None:
    assert forbidden_field(field) is forbidden


def test_apply_point_sets_fields_and_creates_tables() -> None:
    data = {"hardware": {"instance_type": "a"}, "env": {"docker_image": "i"}, "matrix": {"axes": {}}}
    out = apply_point(data, {"hardware.instance_type": "b", "env.vars.X": "1"})
    assert out == {"hardware": {"instance_type": "b"}, "env": {"docker_image": "i", "vars": {"X": "1"}}}


def test_apply_point_deep_copies() -> None:
    data = {"env": {"vars": {"X": "0"}, "list": [{"a": 1}]}, "matrix": {"axes": {"env.vars.X": ["1"]}}}
    out = apply_point(data, {"env.vars.X": "1"})
    out["env"]["list"][0]["a"] = 2
    assert data == {"env": {"vars": {"X": "0"}, "list": [{"a": 1}]}, "matrix": {"axes": {"env.vars.X": ["1"]}}}
    assert out["env"]["vars"] == {"X": "1"}


def test_apply_point_values_are_not_shared_between_points() -> None:
    data = {"env": {}}
    first = apply_point(data, {"env.vars.X": "1"})
    second = apply_point(data, {"env.vars.X": "2"})
    assert (first["env"]["vars"]["X"], second["env"]["vars"]["X"], data) == ("1", "2", {"env": {}})


def test_set_field_through_a_non_table() -> None:
    data = {"ml": {"args": "--x"}}
    with pytest.raises(ValueError, match=r"^'ml.args' is not a table, so 'ml.args.y' cannot be set$"):
        set_field(data, "ml.args.y", 1)


def test_point_label() -> None:
    assert point_label({"a.x": 1, "b.y": "p"}) == "a.x=1, b.y=p"
    assert point_label({}) == "(single point)"


# --- through planning -----------------------------------------------------------------------------


def test_planning_gives_one_run_per_point_in_order(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    text = descriptor(
        tail="""
        [matrix.axes]
        "env.vars.SIZE" = ["128", "256"]
        "hardware.instance_type" = ["c5.xlarge", "c5.2xlarge"]

        [[matrix.exclude]]
        "env.vars.SIZE" = "128"
        "hardware.instance_type" = "c5.2xlarge"

        [[matrix.include]]
        "env.vars.SIZE" = "1024"
        "hardware.instance_type" = "c5.4xlarge"
        """
    )
    runs = plan(repo, write_descriptor(repo, text)).runs
    assert [r.matrix_point for r in runs] == [
        {"env.vars.SIZE": "128", "hardware.instance_type": "c5.xlarge"},
        {"env.vars.SIZE": "256", "hardware.instance_type": "c5.xlarge"},
        {"env.vars.SIZE": "256", "hardware.instance_type": "c5.2xlarge"},
        {"env.vars.SIZE": "1024", "hardware.instance_type": "c5.4xlarge"},
    ]
    assert [(r.env["SIZE"], r.placement.instance_type) for r in runs] == [
        ("128", "c5.xlarge"), ("256", "c5.xlarge"), ("256", "c5.2xlarge"), ("1024", "c5.4xlarge"),
    ]
    assert len({r.run_id for r in runs}) == 4
    assert len({r.family_id for r in runs}) == 1
