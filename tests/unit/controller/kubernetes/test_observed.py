"""A tracked run's observed state is small: the RunSpec annotation compressed and shared."""

from __future__ import annotations

import copy
import gc
import json

import pytest
from fakes.harness import rendered

from controller.kubernetes.observed import RUNSPEC_ANNOTATION, PackedText, parse_time, run_from_object


def job(name: str) -> dict[str, object]:
    obj = rendered("single-node-gpu-data-script", "Job")
    obj["metadata"]["name"] = name
    return obj


def test_the_runspec_reads_back_as_written_and_is_kept_compressed() -> None:
    obj = job("a")
    text = obj["metadata"]["annotations"][RUNSPEC_ANNOTATION]
    state = run_from_object(obj)
    assert state is not None
    assert state.runspec == text and json.loads(state.runspec)["run_id"]
    assert state.packed_runspec.packed_size < len(text) / 2


def test_runs_that_carry_the_same_runspec_share_one_copy() -> None:
    first, second = run_from_object(job("a")), run_from_object(copy.deepcopy(job("b")))
    assert first is not None and second is not None
    assert first.packed_runspec is second.packed_runspec  # the Jobs of a CronJob, one run's every event


def test_a_runspec_no_run_holds_is_let_go() -> None:
    text = json.dumps({"run_id": "only-here", "x": "\u00e9\ud83d\ude00"})
    packed = PackedText.of(text)
    assert packed.text == text and PackedText.of(text) is packed
    del packed
    gc.collect()
    assert all(p.text != text for p in list(PackedText._interned.values()))


def test_an_object_without_a_runspec_has_an_empty_one() -> None:
    obj = job("c")
    del obj["metadata"]["annotations"][RUNSPEC_ANNOTATION]
    state = run_from_object(obj)
    assert state is not None and state.runspec == "" and not state.packed_runspec


def test_parse_time_reads_the_api_times_and_refuses_the_rest() -> None:
    """Times are parsed once each (a cache keyed by the text): a value that is not text, even one
    that cannot be a key (a dict in a malformed object), is None, as is text that is not a time."""
    assert parse_time("2024-01-02T03:04:05Z") == 1704164645.0
    assert parse_time("2024-01-02T03:04:05Z") == 1704164645.0  # from the cache
    assert parse_time("2024-01-02T03:04:05.5+00:00") == 1704164645.5
    for bad in ("", "yesterday", None, 17, {"a": 1}, ["x"]):
        assert parse_time(bad) is None


@pytest.mark.parametrize("size", [0, 1, 2047, 2048, 2600, 4094, 4095, 100_000])
def test_the_interning_digest_is_blake2b_of_the_whole_text(size: int) -> None:
    """Fed to hashlib in pieces it hashes without giving up the GIL (under 2,048 bytes): the same digest."""
    import hashlib
    import os

    from controller.kubernetes.observed import _digest

    raw = os.urandom(size)
    assert _digest(raw) == hashlib.blake2b(raw, digest_size=20).digest()
