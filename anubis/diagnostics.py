"""Printing problems: for people (``path:line:col: field: message``), for machines (JSON) and for
GitHub Actions (workflow commands that annotate the offending line in the pull request)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import click

from schemas.errors import Problem

Format = Literal["text", "github"]


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(problem: Problem) -> str:
    """``::error file=…,line=…,col=…,title=…::message`` (GitHub's workflow command syntax)."""
    kind = "warning" if problem.severity == "warning" else "error"
    props = f"file={_escape_property(problem.path)},line={problem.line},col={problem.column}"
    if problem.field:
        props += f",title={_escape_property(problem.field)}"
    return f"::{kind} {props}::{_escape_data(problem.message)}"


def print_problems(problems: Sequence[Problem], fmt: Format = "text") -> None:
    for p in problems:
        if fmt == "github":
            click.echo(github_annotation(p))
            click.echo(p.format(), err=True)
        else:
            click.echo(p.format(), err=True)


def problem_dict(problem: Problem) -> dict[str, object]:
    return problem._asdict()


def dump_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))
