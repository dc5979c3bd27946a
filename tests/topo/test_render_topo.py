"""`render_topo`: the `nvidia-smi topo -m` style matrix drawn from GPU facts."""

from __future__ import annotations

from nimdoctor.report import GpuFacts, GpuInfo, GpuPair, NvmlError
from nimdoctor.topo import parse_topo, render_topo

FACTS = GpuFacts(
    gpus=[GpuInfo(index=0, numa_node=0), GpuInfo(index=1, numa_node=0), GpuInfo(index=2, numa_node=None)],
    pairs=[
        GpuPair(a=0, b=1, nvlinks=12, nvlink_p2p=True, pcie="PXB"),
        GpuPair(a=0, b=2, nvlinks=0, nvlink_p2p=False, pcie="SYS"),
        GpuPair(a=1, b=2, nvlinks=0, nvlink_p2p=False, pcie=None),
    ],
)


def test_nvlink_pairs_show_nv_count_over_their_pcie_level() -> None:
    rows = render_topo(FACTS).splitlines()
    assert rows[1].split() == ["GPU0", "X", "NV12", "SYS", "0"]
    assert rows[2].split() == ["GPU1", "NV12", "X", "?", "0"]


def test_unknown_pcie_and_numa_show_as_unknown() -> None:
    rows = render_topo(FACTS).splitlines()
    assert rows[3].split() == ["GPU2", "SYS", "?", "X", "N/A"]


def test_header_names_gpus_and_numa_affinity() -> None:
    assert render_topo(FACTS).splitlines()[0].split() == ["GPU0", "GPU1", "GPU2", "NUMA", "Affinity"]


def test_legend_explains_only_what_the_matrix_uses() -> None:
    text = render_topo(FACTS)
    legend = text[text.index("Legend:") :]
    for code in ("X ", "SYS", "NV#", "?"):
        assert f"\n  {code}" in legend
    for code in ("NODE", "PHB", "PXB", "PIX"):
        assert f"\n  {code}" not in legend


def test_output_parses_as_topo_m() -> None:
    two = GpuFacts(
        gpus=[GpuInfo(index=0, numa_node=1), GpuInfo(index=1, numa_node=1)],
        pairs=[GpuPair(a=0, b=1, pcie="PIX")],
    )
    parsed = parse_topo(render_topo(two))
    assert parsed.gpu_matrix() == [["X", "PIX"], ["PIX", "X"]]
    assert [g.numa for g in parsed.gpus] == [1, 1]


def test_nvml_error_is_one_clear_line() -> None:
    facts = GpuFacts(nvml_error=NvmlError(code="LibraryNotFound", message="NVML Shared Library Not Found"))
    assert render_topo(facts) == "NVML unavailable (LibraryNotFound): NVML Shared Library Not Found\n"


def test_no_gpus_says_so() -> None:
    assert render_topo(GpuFacts(gpu_count=0)) == "no GPUs found\n"


def test_eight_gpus_fit_in_80_columns() -> None:
    facts = GpuFacts(
        gpus=[GpuInfo(index=i, numa_node=i // 4) for i in range(8)],
        pairs=[GpuPair(a=i, b=j, nvlinks=18) for i in range(8) for j in range(i + 1, 8)],
    )
    assert max(len(line) for line in render_topo(facts).splitlines()) <= 80
