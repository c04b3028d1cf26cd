"""What descriptors written for the original Anubis (awslabs/benchmark-ai) say differently, read the
way the original read it, so that they validate, render and run unchanged.

- ``task_name`` under ``[info]`` (the original executor's form): taken as the ``task_name`` label,
  with a deprecation warning that says how to move it (as a label value, made label-safe).
- Data paths starting with ``~/`` (``path = "~/data/imagenet"``): ``~`` is the home folder of the
  user the original's images run as, root, so ``~/x`` is ``/root/x`` (docs/descriptor.md).
- An empty ``server.env.start_command`` means the server image's own entrypoint; the schema
  accepts it and the server container is given no command (and so no ``start_command_args``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from renderer.loading import TomlDocument
from schemas.errors import Problem

CONTAINER_HOME = "/root"  # what `~` means in a data path (the original's images run as root)
_LABEL_VALUE = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def label_safe(value: str) -> str:
    """A label value from free text: runs of other characters become '-', at most 63 characters."""
    out = re.sub(r"[^A-Za-z0-9_.-]+", "-", value).strip("-_.")[:63].rstrip("-_.")
    return out or "benchmark"


def home_path(path: str) -> str:
    if path == "~":
        return CONTAINER_HOME
    if path.startswith("~/"):
        return f"{CONTAINER_HOME}/{path[2:]}"
    return path


def upgrade(doc: TomlDocument, data: dict[str, Any]) -> Iterator[Problem]:
    """Rewrite ``data`` (a copy of the document's) in place; yield the warnings it deserves."""
    info = data.get("info")
    if isinstance(info, dict) and "task_name" in info:
        task_name = info.pop("task_name")
        labels = info.get("labels")
        if not isinstance(labels, dict):
            labels = info["labels"] = {} if labels is None else labels
        if isinstance(labels, dict) and isinstance(task_name, str):
            value = task_name if _LABEL_VALUE.match(task_name) else label_safe(task_name)
            if "task_name" in labels:
                yield doc.problem(
                    ("info", "task_name"),
                    "task_name under [info] is deprecated and [info.labels] already has one; delete this line",
                    severity="warning",
                )
            else:
                labels["task_name"] = value
                yield doc.problem(
                    ("info", "task_name"),
                    f"task_name under [info] is deprecated; move it to [info.labels] as task_name = \"{value}\"",
                    severity="warning",
                )
        elif isinstance(labels, dict):
            info["task_name"] = task_name  # not a string: let the schema say what is wrong
    server = data.get("server")
    senv = server.get("env") if isinstance(server, dict) else None
    if isinstance(senv, dict) and senv.get("start_command") == "" and senv.get("start_command_args"):
        yield doc.problem(
            ("server", "env", "start_command_args"),
            "an empty start_command runs the image's own entrypoint, which cannot be given start_command_args"
            " here; write the entrypoint's command in start_command, or remove start_command_args",
        )
    for section in (("data", "sources"), ("server", "models")):
        parent = data.get(section[0])
        items = parent.get(section[1]) if isinstance(parent, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                item["path"] = home_path(item["path"])
