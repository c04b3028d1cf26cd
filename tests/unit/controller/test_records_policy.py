"""The record's policies: ``plain`` (schemas/results.py) is ``asdict`` of a RegressionPolicy, made without its deep
copy (every report carries one per metric), which is a copy only while every field is an atom."""

from __future__ import annotations

import dataclasses

from schemas.policy import RegressionPolicy
from schemas.results import plain as policy_dict


def test_policy_dict_is_asdict() -> None:
    for policy in (RegressionPolicy(), RegressionPolicy(min_change=0.2, confidence=0.9, window=7, min_history=3,
                                                        confirm=2, warmup_values=4, warmup_seconds=1.5,
                                                        fail_on_regression=False)):
        assert policy_dict(policy) == dataclasses.asdict(policy)
        assert list(policy_dict(policy)) == list(dataclasses.asdict(policy))


def test_every_policy_field_is_an_atom_so_the_dict_shares_nothing_mutable() -> None:
    for name, value in policy_dict(RegressionPolicy()).items():
        assert type(value) in (int, float, bool, str, type(None)), f"{name} is a {type(value).__name__}: copy it"
