"""Tables and paragraphs for people: as wide as the terminal, never breaking an id, a name or a path.

Width: `$COLUMNS` when it is set to a number, else the terminal's width when stdout is a terminal, else
`DEFAULT_WIDTH` (80, kubectl's convention); `table` and `wide` follow the same rule.

Columns are of two kinds. A *fixed* column (ids, names, statuses, counts, paths) is never wrapped: it is as
wide as its widest cell. A *prose* column (messages, titles, descriptions, reasons) takes what is left and
wraps at spaces only, so a long token inside prose (a path, a label key) stays whole on its own line: in the
last column it runs past the edge, and a prose column further left is never narrower than its longest
token. When the fixed columns alone are wider than the width, the lines grow longer rather than split a
token: the terminal folds them, and the text stays intact for copying.

rich wraps a cell by folding words (or cutting them off, or dropping a column that does not fit), so the
layout is done here with `textwrap` and rich only draws the finished lines (its styles colour the status
cells on a terminal).
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_WIDTH = 80
GAP = "  "  # between columns, as kubectl prints them
PROSE_HEADERS = frozenset({"message", "title", "description", "reason", "warnings", "short", "why"})
# A prose column wraps no narrower than this, unless its longest cell is shorter.
MIN_PROSE = 12


def output_width() -> int:
    """The width tables and paragraphs are laid out for (see the module docstring)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


def wrap(text: str, width: int) -> list[str]:
    """`text` wrapped at spaces to `width`; newlines kept; a token longer than `width` is never split."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines += textwrap.wrap(
            paragraph,
            max(width, 1),
            break_long_words=False,
            break_on_hyphens=False,
            drop_whitespace=True,
        ) or [""]
    return lines


def longest_token(text: str) -> int:
    """Length of the longest run of non-space characters."""
    return max((len(token) for token in text.split()), default=0)


@dataclass
class Cell:
    """A cell's text and the style it is drawn in on a terminal ("" for none)."""

    text: str
    style: str = ""


@dataclass
class Column:
    """A column: its header, and whether it holds prose (wrapped) or tokens (never wrapped)."""

    header: str
    prose: bool


@dataclass
class Table:
    """A kubectl-style table: headers, no borders, two spaces between columns.

    Cells are strings or rich `Text` (its base style colours the cell); every cell is cleaned of terminal
    control with `clean` (given by the renderer) when it is added.
    """

    columns: list[Column]
    clean: Any = None
    rows: list[list[Cell]] = field(default_factory=list)

    def add_row(self, *cells: Any) -> None:
        """Add a row; a missing trailing cell is empty."""
        row = [_cell(c, self.clean) for c in cells]
        row += [Cell("")] * (len(self.columns) - len(row))
        self.rows.append(row)

    def widths(self, width: int) -> list[int]:
        """Each column's width for a table laid out at `width` characters."""
        natural = [
            max([len(line) for row in self.rows for line in row[i].text.split("\n")] + [len(col.header)])
            for i, col in enumerate(self.columns)
        ]
        prose = [i for i, col in enumerate(self.columns) if col.prose]
        room = width - sum(natural[i] for i in range(len(natural)) if i not in prose)
        room -= len(GAP) * (len(self.columns) - 1)
        if sum(natural[i] for i in prose) <= room:
            return natural
        widths = list(natural)
        last = len(self.columns) - 1
        for i in prose:
            # A token longer than the last column runs past the edge on its own line; one in a column
            # further left would push into its neighbour, so that column is as wide as its longest token.
            token = 0 if i == last else max((longest_token(row[i].text) for row in self.rows), default=0)
            widths[i] = max(token, len(self.columns[i].header), min(natural[i], MIN_PROSE))
        _share(widths, natural, prose, room - sum(widths[i] for i in prose))
        return widths

    def lines(self, width: int) -> Iterator[list[Cell]]:
        """The table's lines at `width`, each a list of padded cells."""
        widths = self.widths(width)
        header = [Cell(col.header, "bold") for col in self.columns]
        for row in [header, *self.rows]:
            cells = [
                wrap(cell.text, widths[i]) if col.prose else cell.text.split("\n")
                for i, (col, cell) in enumerate(zip(self.columns, row, strict=True))
            ]
            for n in range(max(len(c) for c in cells)):
                yield [
                    Cell(c[n].ljust(widths[i]) if n < len(c) else " " * widths[i], row[i].style)
                    for i, c in enumerate(cells)
                ]

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        """Draw the laid-out lines; rich neither wraps nor crops them (the console soft-wraps)."""
        from rich.text import Text

        for line in self.lines(options.max_width):
            text = Text(no_wrap=True, overflow="ignore", end="\n")
            for i, cell in enumerate(line):
                if i:
                    text.append(GAP)
                words = cell.text.rstrip()  # the padding stays unstyled
                text.append(words, style=cell.style if console.color_system else "")
                text.append(" " * (len(cell.text) - len(words)))
            text.rstrip()
            yield text


def _cell(value: Any, clean: Any) -> Cell:
    text = value if isinstance(value, str) else str(getattr(value, "plain", value))
    style = str(getattr(value, "style", "") or "")
    return Cell(clean(text) if clean else text, style)


def _share(widths: list[int], natural: Sequence[int], prose: Iterable[int], extra: int) -> None:
    """Give `extra` characters to the prose columns in proportion to what each still wants, none beyond
    its natural width."""
    wanting = [i for i in prose if widths[i] < natural[i]]
    while extra > 0 and wanting:
        want = sum(natural[i] - widths[i] for i in wanting)
        budget = extra
        for i in wanting:
            grant = min(max(budget * (natural[i] - widths[i]) // want, 1), natural[i] - widths[i], extra)
            widths[i] += grant
            extra -= grant
        wanting = [i for i in wanting if widths[i] < natural[i]]


def make_columns(headers: Sequence[str], prose: Iterable[str] | None, upper: bool) -> list[Column]:
    """Columns for `headers`; prose columns are those named in `prose` (default: `PROSE_HEADERS`)."""
    wrapped = {p.lower() for p in prose} if prose is not None else PROSE_HEADERS
    return [Column(h.upper() if upper else h, h.lower() in wrapped) for h in headers]
