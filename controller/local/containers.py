"""Whether this machine can run a benchmark in its image, and how (docker or podman).

A ``docker`` program on the PATH proves nothing: the CLI is often installed without an engine (or
with one this user may not talk to). An engine counts only when ``<engine> info`` answers within a
couple of seconds. ``ANUBIS_CONTAINER_ENGINE`` (read by the command, passed in here) forces a choice:
``docker``, ``podman`` or ``none``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ENGINES = ("docker", "podman")
PROBE_TIMEOUT = 3.0
CONTAINER_SCRIPTS_PATH = "/opt/anubis/scripts"  # where a pod sees the script-mode folder
CONTAINER_EXECUTION_DIR = "/anubis/execution"  # the emitted-metrics file lives here in a container


@dataclass(frozen=True)
class ContainerEngine:
    """A container engine found on this machine, and the program that runs it."""

    name: str  # "docker" | "podman"
    program: str  # full path


def detect_engine(preference: str | None = None, timeout: float = PROBE_TIMEOUT) -> ContainerEngine | None:
    """The first engine that works (``preference`` first), or ``None``. ``"none"`` disables them."""
    if preference is not None and preference.strip().lower() in ("none", "off", "host", "0", "false"):
        return None
    candidates: Sequence[str] = ENGINES
    if preference:
        wanted = preference.strip().lower()
        candidates = (wanted,) if wanted in ENGINES else ENGINES
    for name in candidates:
        program = shutil.which(name)
        if program is None:
            continue
        try:
            probe = subprocess.run(
                [program, "info", "--format", "{{.ServerVersion}}" if name == "docker" else "{{.Version.Version}}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            log.debug("%s did not answer `info` within %.0f s", name, timeout)
            continue
        if probe.returncode == 0:
            return ContainerEngine(name=name, program=program)
        log.debug("%s is installed but `%s info` failed (no engine running?)", name, name)
    return None


@dataclass(frozen=True)
class Mount:
    """A host path mounted into the benchmark's container."""

    host: Path
    container: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerCommand:
    """What is needed to run one command in an image with an engine."""

    engine: ContainerEngine
    name: str  # the container's name, so that it can be stopped by name
    image: str
    command: tuple[str, ...]
    env: Mapping[str, str]
    mounts: tuple[Mount, ...] = ()
    workdir: str | None = None
    privileged: bool = False
    extended_shm: bool = False
    gpus: int = 0
    host_network: bool = True  # inference: the client reaches the server on 127.0.0.1
    labels: Mapping[str, str] = field(default_factory=dict)

    def argv(self) -> list[str]:
        args = [self.engine.program, "run", "--rm", "--name", self.name, "--init"]
        if self.host_network:
            args += ["--network", "host"]
        if self.privileged:
            args.append("--privileged")
        if self.extended_shm:
            args += ["--shm-size", "1g"]
        if self.gpus:
            args += ["--gpus", "all"] if self.engine.name == "docker" else ["--device", "nvidia.com/gpu=all"]
        for key, value in sorted(self.labels.items()):
            args += ["--label", f"{key}={value}"]
        for mount in self.mounts:
            suffix = ":ro" if mount.read_only else ""
            args += ["-v", f"{mount.host}:{mount.container}{suffix}"]
        for key in sorted(self.env):
            args += ["-e", f"{key}={self.env[key]}"]
        if self.workdir:
            args += ["-w", self.workdir]
        args.append(self.image)
        args += list(self.command)
        return args

    def kill_argv(self) -> list[str]:
        """Stops the container when the engine's client is stopped (the client's death does not)."""
        return [self.engine.program, "kill", self.name]
