"""The words both backends share: durations, the time-limit reason, the inference client's variables."""

from __future__ import annotations

import pytest

from schemas.vocabulary import ROLE_ORDER, compact_duration, human_duration, inference_variables, time_limit_reason


@pytest.mark.parametrize(("seconds", "compact", "prometheus"), [
    (0, "0s", "0s"), (45, "45s", "45s"), (900, "15m", "15m"), (5400, "1h30m", "1h30m"),
    (93784, "26h3m4s", "1d2h3m4s"), (-3, "0s", "0s"),
])
def test_compact(seconds: float, compact: str, prometheus: str) -> None:
    assert compact_duration(seconds) == compact
    assert compact_duration(seconds, days=True) == prometheus


@pytest.mark.parametrize(("seconds", "human", "fine"), [
    (45.26, "45s", "45.3s"), (245, "4m 05s", "4m 05s"), (3723, "1h 02m", "1h 02m 03s"),
])
def test_human(seconds: float, human: str, fine: str) -> None:
    assert human_duration(seconds) == human
    assert human_duration(seconds, fine=True) == fine


def test_time_limit_reason_is_one_sentence_for_both_backends() -> None:
    assert time_limit_reason(3600) == "the run passed its time limit of 1h and was stopped"
    assert time_limit_reason(None) == "the run passed its time limit and was stopped"


def test_inference_variables_and_role_order() -> None:
    assert inference_variables("127.0.0.1", [8080, 8081, 9000]) == {
        "INFERENCE_SERVER_HOST": "127.0.0.1", "INFERENCE_SERVER_PORT": "8080",
        "INFERENCE_SERVER_PORT_1": "8081", "INFERENCE_SERVER_PORT_2": "9000",
    }
    assert inference_variables("h", []) == {"INFERENCE_SERVER_HOST": "h"}
    assert ROLE_ORDER["launcher"] < ROLE_ORDER["worker"]
