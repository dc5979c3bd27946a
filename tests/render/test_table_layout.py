"""`nimdoctor.tables`: tables laid out at a width, wrapping prose at spaces and never splitting a token."""

from __future__ import annotations

import pytest
from rich.text import Text

from nimdoctor.render_base import console_text, make_console, make_table, paragraph
from nimdoctor.tables import DEFAULT_WIDTH, output_width

PATH = "/etc/systemd/system/containerd.service.d/99-nofile-limit-for-nim.conf"
MESSAGE = f"containerd (pid 1187) open files: soft 1024 / hard 524288; see {PATH} for the drop-in"


def drawn(table: object, width: int) -> list[str]:
    console = make_console(color=False)
    console.width = width
    console.print(table)
    return console_text(console).splitlines()


def checks_table() -> object:
    table = make_table("check", "status", "message")
    table.add_row("NIM-RT-001", "FAIL", MESSAGE)
    table.add_row("NIM-GPU-001", "PASS", "ok")
    return table


@pytest.mark.parametrize("width", [20, 40, 60, 80, 200])
def test_ids_paths_and_words_stay_whole_at_any_width(width: int) -> None:
    lines = drawn(checks_table(), width)
    words = " ".join(lines).split()
    # Read row by row, the table holds every id, path and word whole and in order.
    assert words == [
        "CHECK",
        "STATUS",
        "MESSAGE",
        "NIM-RT-001",
        "FAIL",
        *MESSAGE.split(),
        "NIM-GPU-001",
        "PASS",
        "ok",
    ]


def test_prose_wraps_to_the_width_and_only_a_longer_token_runs_past_it() -> None:
    lines = drawn(checks_table(), 60)
    assert lines[0].split() == ["CHECK", "STATUS", "MESSAGE"]
    assert len(lines) > 3  # the message wrapped
    assert all(len(line) <= 60 or PATH in line for line in lines)
    indent = lines[0].index("MESSAGE")
    assert all(line[:indent].strip() == "" for line in lines[2:-1])  # continuation lines stay in MESSAGE


def test_a_wide_enough_table_keeps_each_row_on_one_line() -> None:
    lines = drawn(checks_table(), 200)
    assert len(lines) == 3
    assert lines[1].split()[:2] == ["NIM-RT-001", "FAIL"]


def test_a_prose_column_left_of_another_is_as_wide_as_its_longest_token() -> None:
    table = make_table("check", "title", "message")
    table.add_row("NIM-X-001", f"see {PATH}", "short words that wrap easily at any width at all")
    lines = drawn(table, 50)
    assert any(PATH in line for line in lines)
    start = lines[0].index("MESSAGE")
    assert all(line[start - 2 : start] in ("  ", "") for line in lines)  # the path never runs into MESSAGE


def test_the_share_of_each_prose_column_follows_what_it_holds() -> None:
    table = make_table("machine", "reason", "warnings")
    table.add_row("dgx-h100", "a reason that is long enough to want most of the room " * 3, "NIM-FIT-003")
    lines = drawn(table, 80)
    assert lines[1].split()[-1] == "NIM-FIT-003"
    assert max(len(line) for line in lines) <= 80
    assert len(lines) <= 5


def test_fixed_columns_are_never_wrapped_even_when_too_wide() -> None:
    table = make_table("name", "bus-id", prose=())
    table.add_row("h100-pcie-nvlink-pairs", "00000000:18:00.0")
    assert drawn(table, 10) == ["NAME                    BUS-ID", "h100-pcie-nvlink-pairs  00000000:18:00.0"]


def test_styled_cells_keep_their_text_and_colour_only_on_a_terminal() -> None:
    table = make_table("check", "status")
    table.add_row("NIM-RT-001", Text("FAIL", style="bold red"))
    plain = make_console(color=False)
    plain.print(table)
    coloured = make_console(color=True)
    coloured.print(table)
    assert console_text(plain).splitlines()[1].split() == ["NIM-RT-001", "FAIL"]
    assert "\x1b[" in console_text(coloured)
    assert "FAIL" in console_text(coloured)


def test_cells_are_cleaned_of_terminal_control() -> None:
    table = make_table("name", "message")
    table.add_row("evil\x1b]0;title\x07", "clear\x1b[2J screen")
    text = "\n".join(drawn(table, 80))
    assert "\x1b" not in text
    assert "\x07" not in text


def test_paragraphs_wrap_at_spaces_with_their_indent() -> None:
    console = make_console(color=False)
    console.width = 30
    paragraph(console, f"the drop-in lives at {PATH} on every node", indent="  ")
    lines = console_text(console).splitlines()
    assert all(line.startswith("  ") for line in lines)
    assert f"  {PATH}" in lines
    assert " ".join(" ".join(lines).split()) == f"the drop-in lives at {PATH} on every node"


@pytest.mark.parametrize(
    ("columns", "expected"), [("132", 132), ("", DEFAULT_WIDTH), ("abc", DEFAULT_WIDTH), ("0", DEFAULT_WIDTH)]
)
def test_width_is_columns_else_80_when_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch, columns: str, expected: int
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert output_width() == expected
