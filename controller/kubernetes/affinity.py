"""The controller's threads on one CPU (the ``one_cpu`` setting).

The controller is Python threads sharing one GIL: the reconcile workers, the watches, the marks'
writer. Spread over several cores, every hand-over of the GIL (each ``send`` and ``recv``, each
SQLite statement, each wait in a queue gives it up) is a wake-up of a thread on another core, which
then waits for the GIL in its turn: in a burst of a thousand completions, ~27 context switches a
report. On one core the thread that gives the GIL up for a short call mostly takes it back
itself: ~5 a report, and about a quarter less CPU a report (``bench/controller_load.py``;
docs/performance-commands.md, "Controller", round 4). The cost: the threads can use one core only
(they could not use much more with one GIL), and the kernel no longer moves them off a core that
other work keeps busy, which is why it is a setting.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def pin_to_one_cpu() -> int | None:
    """Every thread of this process (and those it starts later) on one CPU: the one the calling thread
    runs on now, if the process may use it. Returns that CPU; ``None`` where there is nothing to do
    (one CPU allowed) or the platform cannot (no ``sched_setaffinity``: not Linux)."""
    if not hasattr(os, "sched_setaffinity"):
        log.info("one_cpu: this platform cannot restrict a process to a CPU; the setting is ignored")
        return None
    allowed = os.sched_getaffinity(0)
    if len(allowed) <= 1:
        return None
    current = current_cpu()
    cpu = current if current in allowed else min(allowed)
    for task in Path("/proc/self/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), {cpu})
        except (ProcessLookupError, ValueError):  # a thread that ended meanwhile
            continue
    log.info("one_cpu: the controller's threads run on CPU %d (of %d allowed)", cpu, len(allowed))
    return cpu


def current_cpu() -> int | None:
    """The CPU the calling thread last ran on (``/proc/thread-self/stat``, field 39), if readable."""
    try:
        fields = Path("/proc/thread-self/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[36])
    except (OSError, IndexError, ValueError):
        return None
