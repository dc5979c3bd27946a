"""Text from untrusted input made safe for a terminal or a log line.

Node names, GPU names, file names, unit files and overlay texts can carry terminal control: an escape
sequence can recolour or clear the screen, retitle the window, rewrite the clipboard (OSC 52) or hide a
line; a carriage return or newline can forge a line of a table or a log. Before such text reaches a table
or a log line, every escape sequence (CSI, OSC, DCS, SOS, PM, APC, in their 7-bit `ESC x` and 8-bit C1
forms) and every other C0 or C1 control character is replaced by `REPLACEMENT`, as are the Unicode
controls that reorder text on screen (bidirectional overrides) and lone surrogates (bytes that were not
UTF-8, which no terminal encoding can write). JSON and YAML need none of this: their encoders escape
control characters, and the data stays as it was.
"""

from __future__ import annotations

import math
import re
from typing import Any

REPLACEMENT = "\ufffd"
# An escape sequence as a terminal parses it; an unterminated string sequence runs to the end of the text.
_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?          # CSI: parameters, intermediates, final
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|\Z)  # OSC, DCS, SOS, PM, APC
    | \x1b[\x20-\x2f]*[\x30-\x7e]?                               # any other escape
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_CONTROL_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_line(text: str) -> str:
    """`text` as one safe line: escape sequences and every control character (newlines too) replaced."""
    return _CONTROL_LINE.sub(REPLACEMENT, _SEQUENCE.sub(REPLACEMENT, text))


def clean_text(text: str) -> str:
    """`text` made safe, keeping its newlines and tabs (a fix block, a multi-line message)."""
    return _CONTROL_TEXT.sub(REPLACEMENT, _SEQUENCE.sub(REPLACEMENT, text))


def is_clean(text: str) -> bool:
    """Whether `text` holds nothing `clean_text` would replace."""
    return clean_text(text) == text


def plain_data(value: Any) -> Any:
    """Data for JSON or YAML: non-finite floats become `None` (JSON has no NaN) and lone surrogates
    `REPLACEMENT` (no encoder can write them); everything else is kept as it is."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {plain_data(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v) for v in value]
    return value
