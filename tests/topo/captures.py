"""The real `nvidia-smi` captures in tests/fixtures (sources in their `.source.txt` sidecars), and the
variants tests derive from them: each helper says exactly what it changes."""

from __future__ import annotations

import re
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures"
HGX_H100 = "topo-m_hgx-h100-sxm-8gpu_nv18_1nic.txt"  # tab-separated; header lost its leading tab
L40S_4X = "topo-m_4x-l40s_node-sys_2nic.txt"  # tabs rendered as spaces
VGPU_SMI_Q = "nvidia-smi-q_vgpu-guest_grid-v100d-8c_vsphere-tkgi.txt"
TOPO_CAPTURES = (HGX_H100, L40S_4X)

# What the captures show, read off the files by eye (for tests that must not trust the parser).
HGX_NUMA = [0, 0, 0, 0, 1, 1, 1, 1]
L40S_NUMA = [0, 0, 1, 1]
L40S_MATRIX = [
    ["X", "NODE", "SYS", "SYS"],
    ["NODE", "X", "SYS", "SYS"],
    ["SYS", "SYS", "X", "NODE"],
    ["SYS", "SYS", "NODE", "X"],
]
HGX_MATRIX = [["X" if i == j else "NV18" for j in range(8)] for i in range(8)]


def capture(name: str) -> str:
    """A fixture's text, unchanged."""
    return (FIXTURES / name).read_text(encoding="utf-8")


def matrix_lines(text: str) -> tuple[list[str], list[str]]:
    """(header and matrix rows, the rest from the first blank line on)."""
    lines = text.splitlines()
    end = lines.index("")
    return lines[:end], lines[end:]


def as_spaces(text: str) -> str:
    """Tabs expanded to 8-column stops, as a terminal or a web page shows them."""
    return text.expandtabs(8)


def as_tabs(text: str) -> str:
    """Runs of two or more spaces in the matrix turned into one tab (how nvidia-smi separates columns)."""
    head, rest = matrix_lines(text)
    return "\n".join([re.sub(r" {2,}", "\t", line) for line in head] + rest) + "\n"


def with_header_tab(text: str) -> str:
    """The leading tab that real nvidia-smi prints before GPU0 restored (the HGX source lost it)."""
    return text if text[0].isspace() else "\t" + text


def with_terminal_underline(text: str) -> str:
    """The header underlined as nvidia-smi prints it to a terminal (`ESC[4m` ... `ESC[0m`), kept by copy and
    paste from a terminal or by `script`."""
    head, rest = matrix_lines(with_header_tab(text))
    header = head[0]
    start = len(header) - len(header.lstrip())
    head[0] = f"{header[:start]}\x1b[4m{header[start:]}\x1b[0m"
    return "\n".join(head + rest) + "\n"


def without_legend(text: str) -> str:
    """Everything from the first blank line on removed (Legend and NIC Legend)."""
    head, _ = matrix_lines(text)
    return "\n".join(head) + "\n"


def without_nic_rows(text: str) -> str:
    """The NIC rows of the matrix removed; NIC columns and legends stay."""
    head, rest = matrix_lines(text)
    return "\n".join([line for line in head if not re.match(r"NIC\d+\s", line)] + rest) + "\n"


def without_nics(text: str) -> str:
    """NIC rows, NIC columns and the NIC legend removed (a node without NICs); columns become tabs."""
    head, rest = matrix_lines(with_header_tab(as_tabs(text)))
    columns = head[0].split("\t")
    nic_columns = {i for i, name in enumerate(columns) if re.fullmatch(r"NIC\d+", name)}
    kept = [
        "\t".join(cell for i, cell in enumerate(line.split("\t")) if i not in nic_columns)
        for line in head
        if not re.match(r"NIC\d+\s", line)
    ]
    legend = rest[: rest.index("NIC Legend:")] if "NIC Legend:" in rest else rest
    return "\n".join(kept + legend) + "\n"


def without_affinity(text: str) -> str:
    """The CPU Affinity, NUMA Affinity and GPU NUMA ID columns removed; columns become tabs."""
    head, rest = matrix_lines(with_header_tab(as_tabs(text)))
    first = head[0].split("\t").index("CPU Affinity")
    return "\n".join(["\t".join(line.split("\t")[:first]) for line in head] + rest) + "\n"


def with_crlf(text: str) -> str:
    """Windows line endings."""
    return text.replace("\n", "\r\n")


def topo_text(cells: list[list[str]], numa: list[int | None] | None = None) -> str:
    """A synthetic `topo -m` capture in nvidia-smi's layout (tabs, `X` as ` X `, NUMA Affinity column)."""
    n = len(cells)
    header = "\t" + "\t".join(f"GPU{i}" for i in range(n)) + ("\tNUMA Affinity" if numa else "")
    rows = [
        f"GPU{i}\t"
        + "\t".join(" X " if c == "X" else c for c in row)
        + (f"\t{'N/A' if numa[i] is None else numa[i]}" if numa else "")
        for i, row in enumerate(cells)
    ]
    return "\n".join([header, *rows]) + "\n"
