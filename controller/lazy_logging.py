"""A module's logger for the modules every reading command imports (the journal, the result store,
the registry of active runs): :mod:`logging` is imported when the module first logs, not when it is
imported. Its import (traceback, string, the regular expressions of its format styles) and the
command line's ``basicConfig`` were the largest single cost left in `anubis list` and `search`
(~18 M instructions, bench/startup.py) for a message they seldom write.

The command line sets the format up front when :mod:`logging` is already imported, else the moment
it is (:mod:`anubis.logging_config`), so a message reads the same whichever module imports it first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


class ModuleLogger:
    """``logging.getLogger(name)`` with the methods these modules use, looked up at each message."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def logger(self) -> logging.Logger:
        import logging

        return logging.getLogger(self.name)

    # stacklevel=2: a record names the caller's line, not this module's
    def debug(self, message: str, *args: object) -> None:
        self.logger().debug(message, *args, stacklevel=2)

    def info(self, message: str, *args: object) -> None:
        self.logger().info(message, *args, stacklevel=2)

    def warning(self, message: str, *args: object) -> None:
        self.logger().warning(message, *args, stacklevel=2)
