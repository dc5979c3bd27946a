"""Log lines that cannot be forged or hijacked: the long-running processes (agent, extender, audit) log
through `configure`, whose formatter passes every line through `sanitize`.

Log messages carry text from outside: node and pod names, NodeReport fields, the API server's Status
messages, exception texts that quote them. A newline there would forge a log line, an escape sequence would
rewrite the terminal of whoever tails the log. The message line is cleaned whole (`clean_line`); a traceback
keeps its line breaks but each of its lines is cleaned and indented under its record, so an exception text
with a newline in it cannot start a line of its own.
"""

from __future__ import annotations

import logging
import sys

from nimdoctor.sanitize import clean_line

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
INDENT = "    "


class SafeFormatter(logging.Formatter):
    """A formatter whose output holds no control characters but a traceback's own line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The record's line, with control characters and escape sequences replaced."""
        return clean_line(super().formatMessage(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        """The traceback, each line cleaned and indented."""
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        """The stack, each line cleaned and indented."""
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join(INDENT + clean_line(line) for line in text.splitlines())


def configure(level: int = logging.INFO, fmt: str = FORMAT) -> None:
    """Log at `level` to stderr through `SafeFormatter` (like `logging.basicConfig`, once per process)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(fmt))
    logging.basicConfig(level=level, handlers=[handler])
