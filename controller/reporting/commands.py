"""Commands in pull-request comments: ``/anubis rerun [benchmark]``, ``/anubis cancel [benchmark]`` and
``/anubis accept [benchmark] [reason]``.

:func:`parse` reads a comment; :func:`decide` turns a command, the commenter's permission and the
pull request's state into what to do, purely. Only people with write, maintain or admin permission
(asked of the API, never taken from the event's ``author_association``) may run commands; anyone
else gets a short, polite reply and nothing happens.

What the actions mean (docs/gitops.md, "Comment commands"):

* ``rerun`` on an open pull request re-renders its preview with the benchmark's ``info.rerun`` bumped
  on the bot-owned preview branch: a new run id, the same content, and no commit on the contributor's
  branch (which may be a fork's). On a merged pull request it is a bot commit on the default branch
  that bumps ``info.rerun`` in the descriptor, rendered and synced like any merge.
* ``cancel`` on an open pull request removes the benchmark's preview manifests from the preview
  branch: Argo CD prunes the Job and its pods. Runs of the default branch are cancelled on the cluster
  (``anubis cancel``, which suspends the Job so that Argo CD does not re-create it): the workflow
  holds no cluster credentials, so the reply says how.
* a confirmation request (the controller's ``repository_dispatch``, not a comment:
  :func:`parse_dispatch`, :func:`decide_confirmation`) is a ``rerun`` of one benchmark, as above, on
  the pull request it names or on the default branch; a closed pull request gets a reply and no run.
* ``accept`` records the step the pull request's runs show as deliberate: a baseline reset of the
  benchmark (every benchmark of the pull request without a name) in the result store, by the
  commenter, with the rest of the line as the reason — the path ``anubis baseline reset`` takes —
  and sets the ``anubis/<benchmark>`` commit status of the pull request's head to success, saying
  who accepted it and why. Executions after the reset build the new baseline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controller.reporting.github import WRITE_PERMISSIONS

_COMMAND = re.compile(r"^\s*/anubis(?=\s|$)(?:\s+(?P<verb>\S+))?(?:\s+(?P<arg>\S+))?\s*(?P<rest>.*)$", re.IGNORECASE)
_BENCHMARK = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
VERBS = ("rerun", "cancel", "accept")
USAGE = "`/anubis rerun [benchmark]`, `/anubis cancel [benchmark]` or `/anubis accept [benchmark] [reason]`"
#: The longest reason kept with an accepted step.
REASON_LIMIT = 200


@dataclass(frozen=True)
class Command:
    verb: str  # rerun | cancel | accept
    benchmark: str | None  # None: every benchmark of the pull request
    reason: str = ""  # accept only: why the step is deliberate


@dataclass(frozen=True)
class Invalid:
    message: str


@dataclass(frozen=True)
class Reply:
    text: str


@dataclass(frozen=True)
class RerunPreview:
    number: int
    benchmark: str | None


@dataclass(frozen=True)
class CancelPreview:
    number: int
    benchmark: str | None


@dataclass(frozen=True)
class RerunMain:
    benchmark: str | None


@dataclass(frozen=True)
class AcceptStep:
    """Record a baseline reset of ``benchmark`` (None: every benchmark of the pull request) by
    ``user`` with ``reason``, and set the pull request's ``anubis/<benchmark>`` statuses to success."""

    number: int
    benchmark: str | None
    user: str
    reason: str


@dataclass(frozen=True)
class Confirm:
    """The controller's request for a confirmation run (a ``repository_dispatch`` of type
    ``anubis-confirm``, :mod:`controller.reporting.confirming`): re-run ``benchmark`` as ``/anubis rerun
    <benchmark>`` would, once per ``key``."""

    key: str
    benchmark: str
    execution: str  # the suspected execution
    pull_request: int | None  # None: a run of the default branch
    confirmation: int
    of: int


Action = Reply | RerunPreview | CancelPreview | RerunMain | AcceptStep


def parse(body: str) -> Command | Invalid | None:
    """The command on the first line of a comment that starts with ``/anubis``; None if there is none."""
    for line in body.splitlines():
        match = _COMMAND.match(line)
        if match is None:
            continue
        verb = (match.group("verb") or "").lower()
        arg = match.group("arg")
        if verb not in VERBS:
            shown = f"`{safe_name(verb)}` is not" if verb else "that is not"
            return Invalid(f"{shown} an Anubis command: use {USAGE}.")
        rest = match.group("rest").strip()
        if verb == "accept":
            if arg is not None and not _BENCHMARK.match(arg):  # no benchmark named: the line is the reason
                arg, rest = None, f"{arg} {rest}".strip()
            return Command(verb, arg, safe_reason(rest))
        if rest:
            return Invalid(f"`/anubis {verb}` takes at most one benchmark name: use {USAGE}.")
        if arg is not None and not _BENCHMARK.match(arg):
            return Invalid(f"`{safe_name(arg)}` is not a benchmark name (the folder name under benchmarks/).")
        return Command(verb, arg)
    return None


def decide(
    command: Command | Invalid,
    *,
    user: str,
    permission: str,
    number: int,
    state: str,
    merged: bool,
    previewed: bool,
    benchmarks: frozenset[str] | None = None,
) -> list[Action]:
    """What to do about ``command`` from ``user`` on pull request ``number``.

    ``state`` is ``open`` or ``closed``; ``previewed`` whether it carries the preview label;
    ``benchmarks`` (when known) the benchmarks its runs belong to."""
    who = f"@{safe_name(user)}"
    if permission not in WRITE_PERMISSIONS:
        return [Reply(f"Thanks, {who}! Only people with write access to this repository can run Anubis commands; "
                      "a maintainer can run it for you.")]
    if isinstance(command, Invalid):
        return [Reply(f"{who}: {command.message}")]
    target = f"`{command.benchmark}`" if command.benchmark else "every benchmark"
    if command.benchmark and benchmarks is not None and command.benchmark not in benchmarks:
        known = ", ".join(f"`{b}`" for b in sorted(benchmarks)) or "none"
        return [Reply(f"{who}: this pull request has no runs of `{command.benchmark}` (it has: {known}).")]
    if command.verb == "accept":
        reason = command.reason or "no reason given"
        return [AcceptStep(number, command.benchmark, user, reason),
                Reply(f"{who}: accepted the change of {target} as deliberate (baseline reset by {who}: {reason}); "
                      "its status is green, and the next runs build the new baseline.")]
    if state == "open":
        if not previewed:
            return [Reply(f"{who}: this pull request's runs are not on the cluster yet; a maintainer adds the preview "
                          "label to start them.")]
        if command.verb == "rerun":
            return [RerunPreview(number, command.benchmark), Reply(f"{who}: re-running {target} (preview).")]
        return [CancelPreview(number, command.benchmark), Reply(f"{who}: cancelling {target} (preview).")]
    if not merged:
        return [Reply(f"{who}: this pull request is closed without merging; it has no runs to {command.verb}.")]
    if command.verb == "rerun":
        return [RerunMain(command.benchmark), Reply(f"{who}: re-running {target} on the default branch.")]
    return [Reply(f"{who}: runs of the default branch are cancelled on the cluster: `anubis cancel <run id>` "
                  "(it suspends the Job, so Argo CD does not start it again).")]


_KEY = re.compile(r"^confirm:[a-z0-9][a-z0-9._-]{0,62}:[A-Za-z0-9._-]{1,128}:\d{1,2}$")


def parse_dispatch(payload: object) -> Confirm | Invalid:
    """A confirmation request from a ``repository_dispatch`` event's ``client_payload``. Only a token with
    write access to the repository can send one (REST "Create a repository dispatch event"); its fields
    are still checked before they name a benchmark or a pull request."""
    if not isinstance(payload, dict):
        return Invalid("the confirmation request has no client_payload object")
    key, benchmark, execution = (str(payload.get(k) or "") for k in ("key", "benchmark", "execution"))
    number, confirmation, of = payload.get("pull_request"), payload.get("confirmation"), payload.get("of")
    if not _KEY.match(key) or not _BENCHMARK.match(benchmark) or not key.startswith(f"confirm:{benchmark}:{execution}:"):
        return Invalid(f"the confirmation request's key {safe_name(key)!r} does not match its benchmark and execution")
    if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 1):
        return Invalid("the confirmation request's pull_request is not a pull request number")
    if not (isinstance(confirmation, int) and isinstance(of, int) and 1 <= confirmation <= of <= 10):
        return Invalid("the confirmation request's confirmation and of are not 1 <= confirmation <= of <= 10")
    return Confirm(key, benchmark, execution, number, confirmation, of)


def decide_confirmation(request: Confirm, *, state: str | None, merged: bool, previewed: bool) -> list[Action]:
    """What to do about a confirmation request: the rerun ``/anubis rerun <benchmark>`` makes.
    ``state`` is the pull request's (None for a run of the default branch)."""
    which = f"`{request.benchmark}`"
    step = f"confirmation run {request.confirmation} of {request.of}"
    if request.pull_request is None:
        return [RerunMain(request.benchmark)]
    number = request.pull_request
    if state != "open":
        how = "merged: its runs on the default branch are judged there" if merged else "closed"
        return [Reply(f"Not re-running {which} to confirm the change suspected in `{request.execution}`: "
                      f"this pull request is {how}.")]
    if not previewed:
        return [Reply(f"Not re-running {which} to confirm the change suspected in `{request.execution}`: the "
                      "preview label was removed.")]
    return [RerunPreview(number, request.benchmark),
            Reply(f"A change of {which} is suspected in `{request.execution}`: re-running it to confirm ({step}).")]


def safe_reason(text: str) -> str:
    """A reason given in a comment, kept as plain text: no Markdown or HTML markup, no mentions,
    at most :data:`REASON_LIMIT` characters."""
    plain = re.sub(r"[`<>*_\[\]|@\\]", "", text)
    return " ".join(plain.split())[:REASON_LIMIT]


def safe_name(text: str) -> str:
    """A user or benchmark name reduced to characters that are harmless in Markdown and git messages."""
    return re.sub(r"[^A-Za-z0-9._/-]", "", text)[:64]
