"""The command line's logging set-up (anubis/logging_config.py, controller/lazy_logging.py): a message
reads ``LEVEL name: message`` whether :mod:`logging` was imported before the set-up (at once) or after
it (when it is imported: a reading command's module logging for the first time, or a client library),
``--debug`` shows debug messages, and nothing is left behind in ``sys.meta_path`` or the module."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from controller.lazy_logging import ModuleLogger

ROOT = Path(__file__).resolve().parents[3]

LATE = """
import sys
from anubis.logging_config import configure_logging, _SetUpOnImport
assert "logging" not in sys.modules
configure_logging({debug})
if {debug}:  # --debug: set up at once
    assert "logging" in sys.modules
else:
    assert "logging" not in sys.modules and isinstance(sys.meta_path[0], _SetUpOnImport)
from controller.lazy_logging import ModuleLogger
log = ModuleLogger("controller.somewhere")
log.debug("a detail %d", 1)
log.info("a step %d", 2)
log.warning("a problem %d", 3)
import logging
assert not any(isinstance(f, _SetUpOnImport) for f in sys.meta_path), sys.meta_path
assert type(logging.__loader__).__name__ == type(logging.__spec__.loader).__name__ == "SourceFileLoader"
logging.getLogger("urllib3.connectionpool").warning("retrying")  # a library's logger, set up the same
"""

EARLY = """
import logging, sys
from anubis.logging_config import configure_logging, _SetUpOnImport
configure_logging({debug})
assert not any(isinstance(f, _SetUpOnImport) for f in sys.meta_path)
from controller.lazy_logging import ModuleLogger
log = ModuleLogger("controller.somewhere")
log.debug("a detail %d", 1)
log.info("a step %d", 2)
log.warning("a problem %d", 3)
logging.getLogger("urllib3.connectionpool").warning("retrying")
"""


def stderr_of(program: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


@pytest.mark.parametrize("program", [LATE, EARLY], ids=["imported-after", "imported-before"])
def test_warnings_read_the_same_however_logging_is_imported(program: str) -> None:
    assert stderr_of(program.format(debug=False)) == [
        "WARNING controller.somewhere: a problem 3",
        "WARNING urllib3.connectionpool: retrying",
    ]


@pytest.mark.parametrize("program", [LATE, EARLY], ids=["imported-after", "imported-before"])
def test_debug_shows_everything(program: str) -> None:
    assert stderr_of(program.format(debug=True)) == [
        "DEBUG controller.somewhere: a detail 1",
        "INFO controller.somewhere: a step 2",
        "WARNING controller.somewhere: a problem 3",
        "WARNING urllib3.connectionpool: retrying",
    ]


def test_a_module_logger_records_its_callers_line(caplog: pytest.LogCaptureFixture) -> None:
    log = ModuleLogger("controller.somewhere")
    with caplog.at_level(logging.DEBUG, logger="controller.somewhere"):
        log.warning("a problem %s", "here")
    (record,) = caplog.records
    assert record.name == "controller.somewhere" and record.getMessage() == "a problem here"
    assert record.pathname == __file__ and record.funcName == "test_a_module_logger_records_its_callers_line"
