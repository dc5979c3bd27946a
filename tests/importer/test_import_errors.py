"""Unparseable or self-contradicting input: a `MachineImportError` naming file and line, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimdoctor.simulation.machine import validate_machine
from nimdoctor.simulation.machine_import import MachineImportError, import_machine, parse_smi_q
from tests.topo.captures import HGX_H100, L40S_4X, TOPO_CAPTURES, VGPU_SMI_Q, capture, topo_text


def _error(text: str, **kwargs: str) -> MachineImportError:
    with pytest.raises(MachineImportError) as info:
        import_machine(text, topo_label="box.txt", **kwargs)
    return info.value


def test_bad_cell_names_file_line_and_content() -> None:
    lines = capture(L40S_4X).splitlines()
    lines[3] = lines[3].replace("NODE", "NVL", 1)
    error = _error("\n".join(lines))
    assert error.line_no == 4
    assert str(error).startswith("box.txt: line 4: unknown cell 'NVL' in column GPU3")
    assert "GPU2" in str(error)


def test_random_text_names_line_one() -> None:
    error = _error("Traceback (most recent call last):\n  oops\n")
    assert error.line_no == 1
    assert "box.txt: line 1" in str(error)


def test_numa_affinity_that_contradicts_the_matrix_names_the_row() -> None:
    # GPU1 claims NUMA node 1, yet the matrix puts it NODE (same NUMA node) from GPU0.
    cells = [["X", "NODE"], ["NODE", "X"]]
    error = _error(topo_text(cells, [0, 1]))
    assert error.line_no == 3
    assert "GPU0 is NODE from GPU1" in str(error)


def test_matrix_that_is_no_pcie_tree_is_an_error() -> None:
    cells = [["X", "PIX", "PHB"], ["PIX", "X", "PIX"], ["PHB", "PIX", "X"]]
    error = _error(topo_text(cells, [0, 0, 0]))
    assert error.line_no == 4
    assert "not a PCIe tree" in str(error)


def test_more_nvlinks_than_nvml_can_report_is_an_error() -> None:
    cells = [["X", "NV20", "NV20"], ["NV20", "X", "NV20"], ["NV20", "NV20", "X"]]
    error = _error(topo_text(cells, [0, 0, 0]))
    assert error.line_no == 2
    assert "40 NVLinks, but NVML's maximum has 36" in str(error)


@given(st.text())
def test_random_topology_text_raises_only_import_errors(text: str) -> None:
    try:
        import_machine(text)
    except MachineImportError as exc:
        error = exc
    else:
        return
    assert error.line_no is None or error.line_no >= 1


@given(st.sampled_from(TOPO_CAPTURES), st.data())
def test_mutated_captures_import_or_raise_import_errors(name: str, data: st.DataObject) -> None:
    lines = capture(name).splitlines()
    index = data.draw(st.integers(0, len(lines) - 1))
    tokens = lines[index].split("\t") if "\t" in lines[index] else lines[index].split(" ")
    mutation = data.draw(st.sampled_from(["replace line", "drop token", "replace token", "duplicate line"]))
    if mutation == "replace line":
        lines[index] = data.draw(st.text(max_size=40).map(lambda s: s.replace("\n", " ")))
    elif mutation == "duplicate line":
        lines.insert(index, lines[index])
    else:
        at = data.draw(st.integers(0, len(tokens) - 1))
        if mutation == "drop token":
            del tokens[at]
        else:
            tokens[at] = data.draw(st.sampled_from(["X", "NV1", "NV36", "NV99", "PIX", "SYS", "N/A", "-"]))
        lines[index] = ("\t" if "\t" in lines[index] else " ").join(tokens)
    try:
        spec = import_machine("\n".join(lines)).spec
    except MachineImportError:
        return
    validate_machine(spec, "mutated")


@given(st.text())
def test_random_smi_q_text_raises_only_import_errors(text: str) -> None:
    try:
        parse_smi_q(text)
    except MachineImportError:
        return


@given(st.integers(0, 200), st.text(max_size=30))
def test_smi_q_with_a_line_replaced_imports_or_raises_import_errors(index: int, junk: str) -> None:
    lines = capture(VGPU_SMI_Q).splitlines()
    lines[index % len(lines)] = junk.replace("\n", " ").replace("\r", " ")
    one_gpu = "GPU0\tNUMA Affinity\nGPU0\t X \t0\n"
    try:
        import_machine(one_gpu, smi_q_text="\n".join(lines))
    except MachineImportError:
        return


def test_hgx_with_a_gpu_row_gone_is_named() -> None:
    lines = capture(HGX_H100).splitlines()
    del lines[5]
    error = _error("\n".join(lines))
    assert error.line_no == 6
    assert "expected the row of GPU4" in str(error)
