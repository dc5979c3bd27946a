"""`nvidia-smi topo -m` both ways: render the GPU matrix from NVML facts, and parse a real capture.

The renderer's output parses back with `parse_topo`, so a capture and a simulation of it compare cell by
cell (`gpu_matrix`). The parser accepts what real captures look like after copy and paste: tabs or runs of
spaces, a header with or without its leading tab, the underline nvidia-smi puts on it on a terminal (SGR
escapes, copied along with the text), NIC rows and columns, the legends, and any of the affinity columns
(`CPU Affinity`, `NUMA Affinity`, `GPU NUMA ID`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nimdoctor.render_base import console_text, make_console, make_table
from nimdoctor.report import GpuFacts, GpuPair, NvmlError
from nimdoctor.sanitize import clean_line

# PCIe levels, nearest first (nvidia-smi's letters for NVML's topology levels SINGLE..SYSTEM).
PCIE_LEVELS = ("PIX", "PXB", "PHB", "NODE", "SYS")
LEGEND = {
    "X": "Self",
    "SYS": "PCIe and the SMP interconnect between NUMA nodes (QPI/UPI)",
    "NODE": "PCIe and the interconnect between PCIe host bridges within a NUMA node",
    "PHB": "PCIe and a PCIe host bridge (typically the CPU)",
    "PXB": "multiple PCIe bridges, without the PCIe host bridge",
    "PIX": "at most a single PCIe bridge",
    "NV#": "a bonded set of # NVLinks",
    "?": "unknown (NVML could not say)",
}
# Older nvidia-smi releases printed SOC (across CPU sockets) where current ones print SYS.
_ALIASES = {"SOC": "SYS"}
_CELL = re.compile(r"X|NV[1-9][0-9]?|PIX|PXB|PHB|NODE|SYS|SOC")
_AFFINITY = re.compile(r"(CPU\s+Affinity|NUMA\s+Affinity|GPU\s+NUMA\s+ID)|(\S+)")
_GPU_LABEL = re.compile(r"GPU([0-9]+)")
_NUMA = re.compile(r"[0-9]{1,4}|N/A")
# Select Graphic Rendition (`ESC [ 4 m` underline ... `ESC [ 0 m`): styling only; other escapes stay errors.
_SGR = re.compile(r"\x1b\[[0-9;]{0,32}m")
# A capture of 64 GPUs and 16 NICs with its legend is some 30 KB; the cap leaves ample room.
MAX_CHARS = 1 << 20
MAX_GPUS = 64  # as a machine description allows
_ECHO = 80  # characters of an offending line quoted in an error


class TopoParseError(ValueError):
    """Text that is not `nvidia-smi topo -m` output; names the line (1-based) and its content."""

    def __init__(self, line_no: int, line: str, problem: str) -> None:
        super().__init__(f"line {line_no}: {_cut(problem, 2 * _ECHO)}: {_cut(line.strip(), _ECHO)!r}")
        self.line_no = line_no
        self.line = line
        self.problem = problem


def _cut(text: str, limit: int) -> str:
    """Input quoted in an error, cut short (a capture line can be megabytes long)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class TopoGpu:
    """One GPU row: its cells towards every GPU (normalised, `X` on the diagonal) and its affinities."""

    label: str
    line_no: int
    cells: tuple[str, ...]
    numa: int | None
    cpu_affinity: str | None


@dataclass(frozen=True)
class TopoMatrix:
    """What a `topo -m` capture says about its GPUs; NIC rows and columns are checked, then left out."""

    gpus: tuple[TopoGpu, ...]
    nics: tuple[str, ...]

    def gpu_matrix(self) -> list[list[str]]:
        """The GPU x GPU cells, row by row."""
        return [list(gpu.cells) for gpu in self.gpus]


def parse_topo(text: str) -> TopoMatrix:
    """Parse `nvidia-smi topo -m` output; anything else raises `TopoParseError` naming the line."""
    if len(text) > MAX_CHARS:
        raise TopoParseError(
            1, "", f"{len(text)} characters is more than a capture holds (at most {MAX_CHARS})"
        )
    lines = _SGR.sub("", text.removeprefix("\ufeff")).splitlines()
    first = next((no for no, line in enumerate(lines, 1) if line.strip()), None)
    if first is None:
        raise TopoParseError(1, "", "empty input, expected `nvidia-smi topo -m` output")
    devices, affinity = _parse_header(first, lines[first - 1])
    gpu_count = sum(1 for d in devices if _GPU_LABEL.fullmatch(d))
    rows: dict[str, TopoGpu] = {}
    end = len(lines) + 1  # the line after the matrix: blank, a legend, or past the end
    for no in range(first + 1, len(lines) + 1):
        line = lines[no - 1]
        if not line.strip() or line.strip().endswith("Legend:"):
            end = no
            break
        label, row = _parse_row(no, line, devices, affinity, gpu_count, rows)
        rows[label] = row
    _check_trailer(lines, end)
    if len(rows) < gpu_count:  # NIC rows only come after every GPU row
        raise TopoParseError(
            end - 1, lines[end - 2], f"the matrix ends here, before the row of GPU{len(rows)}"
        )
    gpus = tuple(rows[d] for d in devices[:gpu_count])
    _check_symmetric(gpus, lines)
    return TopoMatrix(gpus=gpus, nics=tuple(devices[gpu_count:]))


def gpu_matrix(text: str) -> list[list[str]]:
    """Just the GPU x GPU cells of a `topo -m` capture (normalised: `X`, `NV18`, `SYS`, ...)."""
    return parse_topo(text).gpu_matrix()


def _parse_header(no: int, line: str) -> tuple[list[str], list[str]]:
    devices: list[str] = []
    affinity: list[str] = []
    for match in _AFFINITY.finditer(line):
        if match.group(1):
            affinity.append(" ".join(match.group(1).split()))
        elif affinity:
            raise TopoParseError(no, line, f"device column {match.group(2)!r} after the affinity columns")
        else:
            devices.append(match.group(2))
    gpus = [d for d in devices if _GPU_LABEL.fullmatch(d)]
    if len(gpus) > MAX_GPUS:
        raise TopoParseError(no, line, f"{len(gpus)} GPUs; a node has at most {MAX_GPUS}")
    if not gpus or gpus != [f"GPU{i}" for i in range(len(gpus))] or devices[: len(gpus)] != gpus:
        raise TopoParseError(
            no, line, "expected the `nvidia-smi topo -m` header: GPU0 GPU1 ... [NIC0 ...] [CPU Affinity ...]"
        )
    if len(set(devices)) != len(devices):
        raise TopoParseError(no, line, "a device column appears twice")
    return devices, affinity


def _parse_row(
    no: int, line: str, devices: list[str], affinity: list[str], gpu_count: int, seen: dict[str, TopoGpu]
) -> tuple[str, TopoGpu]:
    tokens = line.split()
    label = tokens[0]
    if label not in devices:
        raise TopoParseError(no, line, f"expected a row of {', '.join(devices)}")
    if label in seen:
        raise TopoParseError(no, line, f"second row of {label}")
    # nvidia-smi prints the GPU rows first and in order; NIC rows may have been left out.
    if len(seen) < gpu_count and label != f"GPU{len(seen)}":
        raise TopoParseError(no, line, f"expected the row of GPU{len(seen)}")
    cells = tokens[1 : 1 + len(devices)]
    if len(cells) < len(devices):
        raise TopoParseError(no, line, f"expected {len(devices)} cells after {label}, got {len(cells)}")
    own = devices.index(label)
    for col, cell in enumerate(cells):
        if not _CELL.fullmatch(cell):
            raise TopoParseError(no, line, f"unknown cell {cell!r} in column {devices[col]}")
        if (cell == "X") != (col == own):
            raise TopoParseError(no, line, f"X belongs on the diagonal only (column {devices[col]})")
    rest = tokens[1 + len(devices) :]
    if len(rest) > len(affinity):
        raise TopoParseError(no, line, f"expected at most {len(affinity)} values after the cells")
    # Split on whitespace, an empty affinity cell would shift the others; real captures print N/A instead.
    values = dict(zip(affinity, rest, strict=False))
    numa_text = values.get("NUMA Affinity")
    if numa_text is not None and not _NUMA.fullmatch(numa_text):
        raise TopoParseError(no, line, f"NUMA Affinity {numa_text!r} is not a node number or N/A")
    row = TopoGpu(
        label=label,
        line_no=no,
        cells=tuple(_ALIASES.get(c, c) for c in cells[:gpu_count]),
        numa=int(numa_text) if numa_text and numa_text.isdigit() else None,
        cpu_affinity=values.get("CPU Affinity"),
    )
    return label, row


def _check_trailer(lines: list[str], start: int) -> None:
    """After the matrix only blank lines and legends may follow (legend text itself is free-form)."""
    in_legend = False
    for no in range(start, len(lines) + 1):
        line = lines[no - 1]
        if line.strip().endswith("Legend:"):
            in_legend = True
        elif line.strip() and not in_legend:
            raise TopoParseError(no, line, "unexpected text after the matrix (expected Legend:)")


def _check_symmetric(gpus: tuple[TopoGpu, ...], lines: list[str]) -> None:
    for i, row in enumerate(gpus):
        for j in range(i):
            if row.cells[j] != gpus[j].cells[i]:
                raise TopoParseError(
                    row.line_no,
                    lines[row.line_no - 1],
                    f"{row.label}->GPU{j} is {row.cells[j]} but GPU{j}->{row.label} is {gpus[j].cells[i]}",
                )


def pair_cell(pair: GpuPair | None) -> str:
    """One cell of the matrix: `NV#` when the pair has NVLinks, else its PCIe level, else `?`."""
    if pair is None:
        return "?"
    if pair.nvlinks > 0:
        return f"NV{pair.nvlinks}"
    return pair.pcie or "?"


def gpu_matrix_rows(gpu: GpuFacts) -> list[list[str]]:
    """The matrix as `nvidia-smi topo -m` prints it: per GPU, its cell towards each GPU (`X` on the
    diagonal)."""
    pairs = {(p.a, p.b): p for p in gpu.pairs} | {(p.b, p.a): p for p in gpu.pairs}
    return [
        ["X" if col.index == row.index else pair_cell(pairs.get((row.index, col.index))) for col in gpu.gpus]
        for row in gpu.gpus
    ]


def render_topo(gpu: GpuFacts) -> str:
    """The GPU matrix in the style of `nvidia-smi topo -m`, with NUMA affinity and a short legend."""
    if isinstance(gpu.nvml_error, NvmlError):
        return clean_line(f"NVML unavailable ({gpu.nvml_error.code}): {gpu.nvml_error.message}") + "\n"
    if not gpu.gpus:
        return "no GPUs found\n"
    # nvidia-smi's own headers (not kubectl's), so that the output parses back with `parse_topo`.
    table = make_table("", *(f"GPU{g.index}" for g in gpu.gpus), "NUMA Affinity", prose=(), upper=False)
    used: set[str] = set()
    for row, cells in zip(gpu.gpus, gpu_matrix_rows(gpu), strict=True):
        used.update("NV#" if c.startswith("NV") else c for c in cells)
        table.add_row(f"GPU{row.index}", *cells, "N/A" if row.numa_node is None else str(row.numa_node))
    console = make_console(color=False)
    console.print(table)
    legend = "".join(f"  {code:<4} = {text}\n" for code, text in LEGEND.items() if code in used)
    return f"{console_text(console)}\nLegend:\n\n{legend}"
