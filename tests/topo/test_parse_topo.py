"""Parsing real `nvidia-smi topo -m` captures and the variants that copy and paste make of them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimdoctor.topo import TopoParseError, gpu_matrix, parse_topo
from tests.topo.captures import (
    HGX_H100,
    HGX_MATRIX,
    HGX_NUMA,
    L40S_4X,
    L40S_MATRIX,
    L40S_NUMA,
    TOPO_CAPTURES,
    as_spaces,
    as_tabs,
    capture,
    with_crlf,
    with_header_tab,
    with_terminal_underline,
    without_affinity,
    without_legend,
    without_nic_rows,
    without_nics,
)

EXPECTED = {HGX_H100: (HGX_MATRIX, HGX_NUMA), L40S_4X: (L40S_MATRIX, L40S_NUMA)}
VARIANTS: list[Callable[[str], str]] = [
    as_spaces,
    as_tabs,
    with_header_tab,
    without_legend,
    without_nic_rows,
    without_nics,
    with_crlf,
    with_terminal_underline,
    lambda text: without_legend(without_nic_rows(as_spaces(text))),
]


@pytest.mark.parametrize("name", TOPO_CAPTURES)
def test_capture_gives_its_gpu_matrix_numa_and_nics(name: str) -> None:
    matrix, numa = EXPECTED[name]
    parsed = parse_topo(capture(name))
    assert parsed.gpu_matrix() == matrix
    assert [g.numa for g in parsed.gpus] == numa
    assert parsed.nics == (("NIC0",) if name == HGX_H100 else ("NIC0", "NIC1"))


def test_hgx_cpu_affinity_survives_the_empty_column_before_gpu_numa_id() -> None:
    # The capture's rows end "0-103\t0\t\tN/A": an empty cell that must not shift the values.
    parsed = parse_topo(capture(HGX_H100))
    assert [g.cpu_affinity for g in parsed.gpus] == ["0-103"] * 4 + ["104-207"] * 4


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", TOPO_CAPTURES)
def test_whitespace_legend_and_nic_variants_give_the_same_matrix(
    name: str, variant: Callable[[str], str]
) -> None:
    matrix, numa = EXPECTED[name]
    parsed = parse_topo(variant(capture(name)))
    assert parsed.gpu_matrix() == matrix
    assert [g.numa for g in parsed.gpus] == numa


@pytest.mark.parametrize("name", TOPO_CAPTURES)
def test_without_affinity_columns_numa_is_unknown(name: str) -> None:
    parsed = parse_topo(without_affinity(capture(name)))
    assert parsed.gpu_matrix() == EXPECTED[name][0]
    assert [g.numa for g in parsed.gpus] == [None] * len(parsed.gpus)


def test_legacy_soc_reads_as_sys() -> None:
    text = capture(L40S_4X).replace("SYS ", "SOC ")
    assert gpu_matrix(text) == L40S_MATRIX


def _error(text: str) -> TopoParseError:
    with pytest.raises(TopoParseError) as info:
        parse_topo(text)
    return info.value


def test_unknown_cell_names_the_line_and_its_content() -> None:
    lines = capture(HGX_H100).splitlines()
    lines[2] = lines[2].replace("NV18", "NVLINK", 1)
    error = _error("\n".join(lines))
    assert error.line_no == 3
    assert "line 3" in str(error)
    assert "NVLINK" in str(error)
    assert "GPU1" in str(error)


def test_missing_gpu_row_names_the_line_where_it_belongs() -> None:
    lines = capture(L40S_4X).splitlines()
    del lines[4]  # GPU3's row: NIC0's row takes its place on line 5
    error = _error("\n".join(lines))
    assert error.line_no == 5
    assert "expected the row of GPU3" in str(error)
    assert "NIC0" in str(error)


def test_truncated_matrix_names_its_last_line() -> None:
    error = _error("\n".join(capture(L40S_4X).splitlines()[:4]))
    assert error.line_no == 4
    assert "before the row of GPU3" in str(error)


def test_short_row_names_its_line() -> None:
    lines = capture(L40S_4X).splitlines()
    lines[2] = "GPU1    NODE     X"
    error = _error("\n".join(lines))
    assert error.line_no == 3
    assert "expected 6 cells" in str(error)


def test_asymmetric_matrix_names_the_later_row() -> None:
    lines = capture(L40S_4X).splitlines()
    lines[3] = lines[3].replace("SYS     SYS      X", "NODE    SYS      X")
    error = _error("\n".join(lines))
    assert error.line_no == 4
    assert "GPU2->GPU0 is NODE but GPU0->GPU2 is SYS" in str(error)


def test_x_off_the_diagonal_is_an_error() -> None:
    lines = capture(L40S_4X).splitlines()
    lines[1] = lines[1].replace("NODE", "X", 1)
    assert _error("\n".join(lines)).line_no == 2


def test_text_between_matrix_and_legend_is_an_error() -> None:
    lines = capture(L40S_4X).splitlines()
    lines.insert(8, "some note")
    error = _error("\n".join(lines))
    assert error.line_no == 9
    assert "some note" in str(error)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n  \n",
        "nvidia-smi topo -m\n",
        "GPU1\tGPU0\nGPU1\t X \tSYS\n",
        "GPU0\tCPU Affinity\tNIC0\n",
        "GPU0\tGPU0\n",
    ],
)
def test_not_a_header_names_line_one_or_its_first_text(text: str) -> None:
    error = _error(text)
    assert error.line_no in (1, 2)


@given(st.text())
def test_random_text_raises_only_topo_parse_error(text: str) -> None:
    try:
        parse_topo(text)
    except TopoParseError as exc:
        error = exc
    else:
        return
    assert 1 <= error.line_no <= max(1, len(text.removeprefix("\ufeff").splitlines()))


@given(
    st.sampled_from(TOPO_CAPTURES),
    st.data(),
)
def test_any_whitespace_between_tokens_gives_the_same_matrix(name: str, data: st.DataObject) -> None:
    text = capture(name)
    separators = st.text(alphabet=" \t", min_size=1, max_size=6)
    pieces = text.split("\n")
    rebuilt = []
    for line in pieces:
        tokens = line.replace("\t", " ").split(" ")
        # Rejoin non-empty tokens with random runs of spaces and tabs; keep a line's indent non-empty.
        words = [t for t in tokens if t]
        indent = data.draw(separators) if line[:1].isspace() else ""
        rebuilt.append(indent + "".join(w + data.draw(separators) for w in words[:-1]) + "".join(words[-1:]))
    matrix, numa = EXPECTED[name]
    parsed = parse_topo("\n".join(rebuilt))
    assert parsed.gpu_matrix() == matrix
    assert [g.numa for g in parsed.gpus] == numa


def test_an_escape_other_than_styling_is_still_an_error_and_is_shown_escaped() -> None:
    text = capture(L40S_4X).replace("GPU1", "GPU1\x1b]0;title\x07", 1)
    with pytest.raises(TopoParseError) as raised:
        parse_topo(text)
    assert "\\x1b" in str(raised.value)
    assert "\x1b" not in str(raised.value)
