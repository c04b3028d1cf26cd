"""The EC2 instance types Anubis knows: vCPUs, memory and GPUs of each (``data/ec2-instance-types.json``).

The catalogue is data shipped with the package; its ``source`` and ``compiled`` fields name where the
figures come from (Amazon's published instance type specifications) and when they were written down.
Environments use it to turn any instance type a descriptor names into requests, limits and a GPU
count, so an environment lists instance types by pattern (``p3.*``) rather than one by one.

What a run may request is less than the instance has: the kubelet, the system reserve and the system
pods (CNI, kube-proxy, device plugin, node exporter) need their share. :func:`allocatable` applies
one rule, documented in docs/environments.md ("Requests from the catalogue"):

- CPU: the vCPUs less 500m up to 8 vCPUs, less 1 vCPU up to 64, less 2 vCPUs above;
- memory: the instance's memory less 512 MiB and less 6 % of it, rounded down to a MiB.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any

from schemas.loading import SCHEMA_DIR

DATA_FILE = "ec2-instance-types.json"


@dataclass(frozen=True)
class InstanceSpec:
    """One instance type of the catalogue: its vCPUs, memory and GPUs."""

    name: str
    vcpus: int
    memory_mib: int
    gpus: int = 0
    gpu_model: str | None = None
    gpu_memory_gib: int | None = None

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class Resources:
    """What one pod on a whole instance may request: Kubernetes quantities."""

    cpu: str
    memory: str


@dataclass(frozen=True)
class Catalogue:
    """The shipped instance-type catalogue."""

    source: str
    compiled: str
    types: dict[str, InstanceSpec]

    def get(self, name: str) -> InstanceSpec | None:
        return self.types.get(name)

    def nearest(self, name: str, n: int = 3) -> list[str]:
        """The real instance types closest to ``name`` (difflib), same family first."""
        import difflib  # only for a name that is not known

        close = difflib.get_close_matches(name, list(self.types), n=n, cutoff=0.5)
        family = name.split(".", 1)[0]
        same = [t for t in self.types if t.startswith(family + ".") and t not in close]
        if not close and same:
            close = difflib.get_close_matches(name, same, n=n, cutoff=0.0)
        return close

    def unknown_message(self, name: str) -> str:
        if len(name) > NAME_SHOWN:  # no real type is this long: nothing is near it, and it is not repeated
            return f"{quoted(name)} is not a known EC2 instance type"
        nearest = self.nearest(name)
        hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
        return f"'{name}' is not a known EC2 instance type{hint}"


NAME_SHOWN = 64  # the longest real type is about 20 characters


def quoted(name: str) -> str:
    """``name`` quoted for a message, cut to its first characters when it is longer than any real type."""
    if len(name) <= NAME_SHOWN:
        return f"'{name}'"
    return f"'{name[:NAME_SHOWN]}…' ({len(name)} characters)"


@functools.cache
def catalogue() -> Catalogue:
    """The shipped catalogue (read once)."""
    text = (SCHEMA_DIR / "data" / DATA_FILE).read_text(encoding="utf-8")
    return parse_catalogue(json.loads(text))


def parse_catalogue(doc: dict[str, Any]) -> Catalogue:
    types = {
        name: InstanceSpec(
            name=name,
            vcpus=int(entry["vcpus"]),
            memory_mib=int(round(float(entry["memory_gib"]) * 1024)),
            gpus=int(entry.get("gpus", 0)),
            gpu_model=entry.get("gpu_model"),
            gpu_memory_gib=entry.get("gpu_memory_gib"),
        )
        for name, entry in doc["instance_types"].items()
    }
    return Catalogue(source=str(doc["source"]), compiled=str(doc["compiled"]), types=types)


def allocatable(spec: InstanceSpec) -> Resources:
    """Requests for a pod that has the instance to itself, leaving headroom for the node's own needs."""
    reserve_millicores = 500 if spec.vcpus <= 8 else 1000 if spec.vcpus <= 64 else 2000
    millicores = max(spec.vcpus * 1000 - reserve_millicores, 250)
    memory = max(math.floor(spec.memory_mib - 512 - spec.memory_mib * 0.06), 256)
    cpu = f"{millicores // 1000}" if millicores % 1000 == 0 else f"{millicores}m"
    return Resources(cpu=cpu, memory=f"{memory}Mi")
