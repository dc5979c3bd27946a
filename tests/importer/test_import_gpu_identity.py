"""Where an imported GPU's model comes from: `nvidia-smi -q`, a product name, or nowhere (unknown)."""

from __future__ import annotations

import pytest

from nimdoctor import gpus
from nimdoctor.simulation.machine import MemorySpec, MigSpec, Virtualization
from nimdoctor.simulation.machine_import import (
    MachineImportError,
    identity_for_name,
    import_machine,
    parse_smi_q,
)
from tests.topo.captures import HGX_H100, L40S_4X, VGPU_SMI_Q, capture

# The vGPU guest of the -q capture has one GPU; its `topo -m` was not published. A one-GPU matrix in
# nvidia-smi's layout stands in for it.
ONE_GPU_TOPO = "\tGPU0\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID\nGPU0\t X \t0-7\t0\t\tN/A\n"


def test_vgpu_guest_smi_q_gives_the_profile_name_memory_and_mode() -> None:
    spec = import_machine(ONE_GPU_TOPO, smi_q_text=capture(VGPU_SMI_Q)).spec
    assert spec.virtualization is Virtualization.VGPU
    (gpu,) = spec.gpus
    assert gpu.name == "GRID V100D-8C"
    assert gpu.memory == MemorySpec(total_mib=8192, reserved_mib=560)
    assert gpu.bus_id == "00000000:02:00.0"
    assert gpu.uuid == "GPU-57abc772-1dd3-11b2-8fae-e31710b8f307"
    assert gpu.pci_device_id == 0x1DB610DE
    assert gpu.architecture == "volta"
    assert gpu.mig == MigSpec(current=False, pending=False)


def test_vgpu_profile_takes_compute_capability_from_its_physical_gpu() -> None:
    (gpu,) = import_machine(ONE_GPU_TOPO, smi_q_text=capture(VGPU_SMI_Q)).spec.gpus
    v100_pcie = gpus.by_name("Tesla V100-PCIE-32GB")
    assert v100_pcie is not None
    assert gpu.compute_capability == v100_pcie.compute_capability == "7.0"


def test_smi_q_gives_driver_and_cuda_version() -> None:
    spec = import_machine(ONE_GPU_TOPO, smi_q_text=capture(VGPU_SMI_Q)).spec
    assert spec.system.driver == "535.216.01"
    assert spec.system.cuda == 12020


def test_smi_q_bus_ids_and_uuids_are_not_called_synthesized() -> None:
    notes = import_machine(ONE_GPU_TOPO, smi_q_text=capture(VGPU_SMI_Q)).notes
    assert not any("synthesized" in note for note in notes)
    assert "nvidia-smi -q" in notes[0]


def test_smi_q_with_other_gpu_count_than_the_topology_is_an_error() -> None:
    with pytest.raises(MachineImportError, match=r"1 GPU section\(s\), but topo shows 4 GPU\(s\)"):
        import_machine(capture(L40S_4X), smi_q_text=capture(VGPU_SMI_Q))


def test_smi_q_attached_count_must_match_its_sections() -> None:
    text = capture(VGPU_SMI_Q).replace("Attached vGPUs                             : 1", "Attached vGPUs : 2")
    with pytest.raises(MachineImportError) as info:
        parse_smi_q(text, "q.txt")
    assert info.value.line_no == 8
    assert "q.txt: line 8: Attached vGPUs says 2" in str(info.value)


def test_smi_q_bad_memory_names_its_line() -> None:
    text = capture(VGPU_SMI_Q).replace("Total                             : 8192 MiB", "Total : lots", 1)
    with pytest.raises(MachineImportError) as info:
        parse_smi_q(text)
    assert info.value.line_no == 89  # FB Memory Usage, not BAR1
    assert "'lots'" in str(info.value)


def test_smi_q_without_gpu_sections_is_an_error() -> None:
    with pytest.raises(MachineImportError, match="no GPU section"):
        parse_smi_q("Driver Version : 550.54.15\n")


def test_smi_q_text_before_the_first_gpu_must_be_key_value() -> None:
    with pytest.raises(MachineImportError) as info:
        parse_smi_q("\nhello there\nGPU 00000000:02:00.0\n    Product Name : NVIDIA L40S\n")
    assert info.value.line_no == 2


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("Pass-Through", Virtualization.PASSTHROUGH), ("None", Virtualization.NONE)],
)
def test_smi_q_virtualization_modes(mode: str, expected: Virtualization) -> None:
    line = "Virtualization Mode               : VGPU"
    text = capture(VGPU_SMI_Q).replace(line, f"Virtualization Mode : {mode}")
    assert import_machine(ONE_GPU_TOPO, smi_q_text=text).spec.virtualization is expected


def test_gpu_name_fills_memory_and_ids_from_the_known_table() -> None:
    spec = import_machine(capture(L40S_4X), gpu_name="NVIDIA L40S").spec
    model = gpus.by_name("NVIDIA L40S")
    assert model is not None
    for gpu in spec.gpus:
        assert gpu.name == "NVIDIA L40S"
        assert gpu.memory == MemorySpec(total_mib=model.memory_mib)
        assert gpu.pci_device_id == model.pci_device_id
        assert gpu.architecture == "ada"
        assert gpu.compute_capability == "8.9"
    assert spec.metadata.description.startswith("4x NVIDIA L40S")


def test_hopper_nvswitch_import_has_a_trained_fabric() -> None:
    spec = import_machine(capture(HGX_H100), gpu_name="NVIDIA H100 80GB HBM3").spec
    assert all(g.fabric is not None and g.fabric.state == "completed" for g in spec.gpus)
    assert all(g.nvlink is not None and g.nvlink.version == "4.0" for g in spec.gpus)


def test_vgpu_type_name_gives_the_profile_memory() -> None:
    spec = import_machine(capture(L40S_4X), gpu_name="NVIDIA L40S-48C").spec
    assert spec.virtualization is Virtualization.VGPU
    assert {g.memory for g in spec.gpus} == {MemorySpec(total_mib=48 * 1024)}
    assert {g.compute_capability for g in spec.gpus} == {"8.9"}


def test_unknown_gpu_name_lists_the_known_ones() -> None:
    with pytest.raises(MachineImportError) as info:
        identity_for_name("NVIDIA Z9000")
    assert "'NVIDIA Z9000'" in str(info.value)
    assert "NVIDIA L40S" in str(info.value)
    assert "NVIDIA H100 80GB HBM3" in str(info.value)


def test_gpu_without_nvlink_on_an_nvlink_topology_is_an_error() -> None:
    with pytest.raises(MachineImportError) as info:
        import_machine(capture(HGX_H100), gpu_name="NVIDIA L40S")
    assert info.value.line_no == 2
    assert "GPU0 would need 18 NVLinks, but NVIDIA L40S has 0" in str(info.value)


def test_smi_q_and_gpu_name_together_are_an_error() -> None:
    with pytest.raises(MachineImportError, match="not both"):
        import_machine(ONE_GPU_TOPO, smi_q_text=capture(VGPU_SMI_Q), gpu_name="NVIDIA L40S")


def test_smi_q_gpu_missing_from_the_table_keeps_its_memory_and_says_what_is_unknown() -> None:
    text = capture(VGPU_SMI_Q).replace("GRID V100D-8C", "NVIDIA Z9000", 1)
    imported = import_machine(ONE_GPU_TOPO, smi_q_text=text)
    (gpu,) = imported.spec.gpus
    assert gpu.name == "NVIDIA Z9000"
    assert gpu.memory == MemorySpec(total_mib=8192, reserved_mib=560)
    assert gpu.compute_capability is None
    assert "NVIDIA Z9000: compute capability unknown (not in the input or the GPU table)." in imported.notes


# The GPUs NVIDIA lists for NIM (NIM for LLMs "Supported Models", GPUs table, 1.8.0 to 1.13.0 and latest,
# docs.nvidia.com/nim/large-language-models/latest/supported-models.html), by the names NVML gives them, and
# their data-centre and workstation siblings.
NIM_GPUS = [
    "NVIDIA B200",
    "NVIDIA GB200",
    "NVIDIA B300 SXM6 AC",
    "NVIDIA GH200 480GB",
    "NVIDIA H200",
    "NVIDIA H200 NVL",
    "NVIDIA H100 80GB HBM3",
    "NVIDIA H100 PCIe",
    "NVIDIA H100 NVL",
    "NVIDIA H20",
    "NVIDIA A100-SXM4-80GB",
    "NVIDIA A100-SXM4-40GB",
    "NVIDIA A100 80GB PCIe",
    "NVIDIA A100-PCIE-40GB",
    "NVIDIA A30",
    "NVIDIA A40",
    "NVIDIA A10",
    "NVIDIA A10G",
    "NVIDIA L40S",
    "NVIDIA L40",
    "NVIDIA L4",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition",
    "NVIDIA RTX PRO 6000 Blackwell Workstation Edition",
    "NVIDIA RTX 6000 Ada Generation",
    "NVIDIA RTX 5880 Ada Generation",
    "NVIDIA RTX 5000 Ada Generation",
    "NVIDIA RTX A6000",
    "NVIDIA GeForce RTX 5090",
    "NVIDIA GeForce RTX 4090",
]


@pytest.mark.parametrize("name", NIM_GPUS)
def test_the_gpus_nim_supports_import_by_name_with_memory_and_compute_capability(name: str) -> None:
    (gpu,) = import_machine(ONE_GPU_TOPO, gpu_name=name).spec.gpus
    assert gpu.name == name
    assert gpu.memory is not None
    assert (gpu.memory.total_mib or 0) > 0
    assert gpu.compute_capability is not None


def test_every_known_gpu_has_one_name_a_source_and_its_own_product() -> None:
    names = [gpus.normalise(m.name) for m in gpus.KNOWN]
    assert len(names) == len(set(names))
    assert all(m.source for m in gpus.KNOWN)
    # An RTX 6000 Ada is no RTX PRO 6000: families never join two architectures.
    families: dict[str, set[str]] = {}
    for model in gpus.KNOWN:
        families.setdefault(gpus.family(model.product), set()).add(model.architecture)
    assert all(len(architectures) == 1 for architectures in families.values())


def test_an_import_by_name_says_the_memory_is_the_table_s_not_a_measurement() -> None:
    notes = import_machine(ONE_GPU_TOPO, gpu_name="NVIDIA RTX A6000").notes
    said = " ".join(notes)
    assert "NVIDIA RTX A6000: 49140 MiB and compute capability 8.6 from nimdoctor's GPU table" in said
    assert "--smi-q" in said
