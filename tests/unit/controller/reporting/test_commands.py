from __future__ import annotations

import pytest

from controller.reporting.commands import (
    AcceptStep,
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


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/anubis accept", Command("accept", None, "")),
        ("/anubis accept resnet", Command("accept", "resnet", "")),
        ("/anubis accept resnet new tokenizer, slower by design", Command("accept", "resnet", "new tokenizer, slower by design")),
        ("/anubis accept The <b>new</b> `loader` @bob", Command("accept", None, "The bnew/b loader bob")),
    ],
)
def test_parse_accept(body: str, expected: Command) -> None:
    assert parse(body) == expected


def test_writers_accept_a_step_and_others_cannot() -> None:
    command = Command("accept", "resnet", "new tokenizer")
    action, reply = _decide(command)
    assert action == AcceptStep(7, "resnet", "alice", "new tokenizer")
    assert isinstance(reply, Reply) and "accepted the change of `resnet` as deliberate" in reply.text
    assert _decide(Command("accept", None, ""))[0] == AcceptStep(7, None, "alice", "no reason given")
    assert _decide(command, state="closed", merged=True)[0] == AcceptStep(7, "resnet", "alice", "new tokenizer")
    [refused] = _decide(command, permission="read")
    assert isinstance(refused, Reply) and "Only people with write access" in refused.text
    [unknown] = _decide(command, benchmarks=frozenset({"bert"}))
    assert isinstance(unknown, Reply) and "no runs of `resnet`" in unknown.text
