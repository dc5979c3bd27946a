"""An imported `nvidia-smi -q` vGPU guest, probed through the NVML fake, reads back as that guest."""

from __future__ import annotations

from nimdoctor.probes.gpu import probe_gpu
from nimdoctor.simulation.machine import parse_machine
from nimdoctor.simulation.machine_import import import_machine
from nimdoctor.simulation.nvml import simulated_nvml
from tests.importer.test_import_gpu_identity import ONE_GPU_TOPO
from tests.topo.captures import VGPU_SMI_Q, capture


def test_vgpu_guest_probes_with_profile_name_memory_and_vgpu_mode() -> None:
    machine = parse_machine(import_machine(ONE_GPU_TOPO, smi_q_text=capture(VGPU_SMI_Q)).to_yaml(), "vgpu")
    with simulated_nvml(machine)() as nvml:
        facts = probe_gpu(nvml)
    (gpu,) = facts.gpus
    assert gpu.name == "GRID V100D-8C"
    assert gpu.memory_total_bytes == 8192 * 1024 * 1024
    assert gpu.virtualization_mode == "vgpu"
    assert gpu.uuid == "GPU-57abc772-1dd3-11b2-8fae-e31710b8f307"
    assert gpu.bus_id is not None
    assert gpu.bus_id.upper().endswith("02:00.0")
    assert facts.driver_version == "535.216.01"
