from __future__ import annotations

import pytest

from controller.reporting.commands import (
    CancelPreview,
    Command,
    Invalid,
    Reply,
    RerunMain,
    RerunPreview,
    decide,
    parse,
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/anubis rerun", Command("rerun", None)),
        ("/anubis rerun resnet", Command("rerun", "resnet")),
        ("  /ANUBIS Cancel resnet  ", Command("cancel", "resnet")),
        ("Looks good.\n\n/anubis cancel", Command("cancel", None)),
        ("no command here", None),
        ("/anubisrerun", None),
        ("please run `/anubis rerun`", None),
    ],
)
def test_parse(body: str, expected: Command | None) -> None:
    assert parse(body) == expected


@pytest.mark.parametrize("body", ["/anubis", "/anubis deploy", "/anubis rerun a b", "/anubis rerun $(rm -rf /)"])
def test_parse_invalid(body: str) -> None:
    result = parse(body)
    assert isinstance(result, Invalid)
    assert "$(" not in result.message


def _decide(command: Command | Invalid, permission: str = "write", **kw: object) -> list[object]:
    args: dict[str, object] = dict(user="alice", permission=permission, number=7, state="open", merged=False,
                                   previewed=True)
    args.update(kw)
    return list(decide(command, **args))  # type: ignore[arg-type]


@pytest.mark.parametrize("permission", ["read", "triage", "none"])
def test_others_get_a_polite_reply_and_nothing_happens(permission: str) -> None:
    actions = _decide(Command("rerun", None), permission)
    assert len(actions) == 1 and isinstance(actions[0], Reply)
    assert "write access" in actions[0].text and "@alice" in actions[0].text


@pytest.mark.parametrize("permission", ["write", "maintain", "admin"])
def test_writers_rerun_and_cancel_previews(permission: str) -> None:
    assert RerunPreview(7, "resnet") in _decide(Command("rerun", "resnet"), permission)
    assert CancelPreview(7, None) in _decide(Command("cancel", None), permission)


def test_no_preview_without_the_label() -> None:
    actions = _decide(Command("rerun", None), previewed=False)
    assert [type(a) for a in actions] == [Reply]


def test_merged_pull_request_reruns_on_main_and_explains_cancel() -> None:
    assert RerunMain("resnet") in _decide(Command("rerun", "resnet"), state="closed", merged=True)
    cancel = _decide(Command("cancel", "resnet"), state="closed", merged=True)
    assert [type(a) for a in cancel] == [Reply] and "anubis cancel" in cancel[0].text  # type: ignore[attr-defined]
    closed = _decide(Command("rerun", None), state="closed", merged=False)
    assert [type(a) for a in closed] == [Reply]


def test_unknown_benchmark_and_invalid_command_get_replies() -> None:
    actions = _decide(Command("rerun", "nope"), benchmarks=frozenset({"resnet"}))
    assert [type(a) for a in actions] == [Reply] and "`resnet`" in actions[0].text  # type: ignore[attr-defined]
    assert [type(a) for a in _decide(Invalid("bad"))] == [Reply]
