"""MIG devices through the real nvidia-ml-py binding, the NVML fake under it: probe, names, capabilities."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pynvml
import pytest

from nimdoctor.capabilities import derive_capabilities
from nimdoctor.probes import mig
from nimdoctor.report import Facts, MigInstance, MigSlice, NodeFacts
from nimdoctor.simulation.fakenvml import installed
from nimdoctor.simulation.machine import MachineError, MachineSpec, MigInstanceSpec, MigSpec, validate_machine
from tests.probes.conftest import FIXTURES, Machines

MIB = 2**20
GFD_LABELS: dict[str, str] = json.loads((FIXTURES / "h100-mig-mixed-all-balanced.json").read_text())


def gfd_instances() -> list[MigInstanceSpec]:
    """The MIG devices the real H100 node's GPU Feature Discovery labels describe."""
    profiles = sorted(
        key.removeprefix("nvidia.com/mig-").removesuffix(".count")
        for key in GFD_LABELS
        if key.startswith("nvidia.com/mig-") and key.endswith(".count")
    )
    return [
        MigInstanceSpec(
            profile=profile,
            count=int(GFD_LABELS[f"nvidia.com/mig-{profile}.count"]),
            memory_mib=int(GFD_LABELS[f"nvidia.com/mig-{profile}.memory"]),
            multiprocessors=int(GFD_LABELS[f"nvidia.com/mig-{profile}.multiprocessors"]),
        )
        for profile in profiles
    ]


def h100_in_mig_mode(machines: Machines) -> MachineSpec:
    """One GPU of dgx-h100, alone, in the labelled node's all-balanced MIG layout (no NVLink: no P2P)."""
    spec = machines.builtin("dgx-h100")
    gpu = msgspec.structs.replace(
        spec.gpus[0],
        mig=MigSpec(current=True, pending=True, instances=gfd_instances()),
        nvlink=None,
        fabric=None,
    )
    return msgspec.structs.replace(spec, gpus=[gpu], nvswitches=[])


def test_the_a100_mig_machine_reports_its_mig_devices_by_profile(machines: Machines) -> None:
    facts, fake = machines.probe(machines.builtin("a100-mig"))
    assert facts.nvml_error is msgspec.UNSET
    for gpu in facts.gpus:
        assert gpu.mig_enabled is True
        assert gpu.mig_instances == [
            MigInstance(profile="1g.10gb", memory_bytes=9856 * MIB, count=2),
            MigInstance(profile="2g.20gb", memory_bytes=19968 * MIB, count=1),
            MigInstance(profile="3g.40gb", memory_bytes=40192 * MIB, count=1),
        ]
        assert "mig_instances" not in gpu.unknown
    assert fake.calls["nvmlDeviceGetAttributes_v2"] == 8  # 4 devices on each of 2 GPUs


def test_names_and_memory_match_gpu_feature_discovery_on_a_real_h100(machines: Machines) -> None:
    total = int(GFD_LABELS["nvidia.com/gpu.memory"]) * MIB
    for instance in gfd_instances():
        slices = int(instance.profile.split("g.", 1)[0])
        assert mig.profile_name(slices, slices, instance.memory_mib, total) == instance.profile
    facts, _ = machines.probe(h100_in_mig_mode(machines))
    capabilities = derive_capabilities(Facts(gpu=facts, node=NodeFacts(labels=GFD_LABELS)), ready=True)
    assert capabilities.mig_strategy == GFD_LABELS["nvidia.com/mig.strategy"] == "mixed"
    assert isinstance(capabilities.mig_slices, tuple)
    assert {s.profile: (s.memory_bytes // MIB, s.count) for s in capabilities.mig_slices} == {
        p.profile: (p.memory_mib, p.count) for p in gfd_instances()
    }
    assert capabilities.mig_slices == (
        MigSlice(profile="1g.10gb", memory_bytes=9984 * MIB, count=2),
        MigSlice(profile="2g.20gb", memory_bytes=20096 * MIB, count=1),
        MigSlice(profile="3g.40gb", memory_bytes=40320 * MIB, count=1),
    )


def test_gpus_without_mig_report_no_mig_devices(machines: Machines) -> None:
    facts, fake = machines.probe(machines.builtin("dgx-h100"))
    assert all(gpu.mig_instances == [] for gpu in facts.gpus)
    assert fake.calls["nvmlDeviceGetMaxMigDeviceCount"] == 0
    capabilities = derive_capabilities(Facts(gpu=facts), ready=True)
    assert capabilities.mig_enabled is False
    assert capabilities.mig_slices is msgspec.UNSET


def call(function: str, *args: Any) -> Any:
    return getattr(pynvml, function)(*args)


def test_the_fake_answers_mig_device_handles_as_nvml_documents(machines: Machines) -> None:
    with installed(machines.builtin("a100-mig")):
        pynvml.nvmlInit()
        try:
            gpu = pynvml.nvmlDeviceGetHandleByIndex(0)
            assert pynvml.nvmlDeviceGetMaxMigDeviceCount(gpu) == 7
            device = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu, 3)
            assert pynvml.nvmlDeviceIsMigDeviceHandle(device).value == 1
            assert pynvml.nvmlDeviceIsMigDeviceHandle(gpu).value == 0
            parent = pynvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(device)
            assert pynvml.nvmlDeviceGetUUID(parent) == pynvml.nvmlDeviceGetUUID(gpu)
            attributes = pynvml.nvmlDeviceGetAttributes(device)
            assert (attributes.gpuInstanceSliceCount, attributes.memorySizeMB) == (3, 40192)
            with pytest.raises(pynvml.NVMLError_NotFound):
                pynvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu, 4)
            with pytest.raises(pynvml.NVMLError_NotSupported):
                pynvml.nvmlDeviceGetAttributes(gpu)  # nvml.h: MIG device handles only
            with pytest.raises(pynvml.NVMLError_InvalidArgument):
                pynvml.nvmlDeviceGetPciInfo(device)  # not modelled for MIG devices
            with pytest.raises(pynvml.NVMLError_InvalidArgument):
                pynvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(gpu)
        finally:
            pynvml.nvmlShutdown()


def test_max_mig_device_count_is_not_supported_on_a_gpu_without_mig(machines: Machines) -> None:
    with installed(machines.builtin("l40s-4x")):
        pynvml.nvmlInit()
        try:
            with pytest.raises(pynvml.NVMLError_NotSupported):
                pynvml.nvmlDeviceGetMaxMigDeviceCount(pynvml.nvmlDeviceGetHandleByIndex(0))
        finally:
            pynvml.nvmlShutdown()


@pytest.mark.parametrize(
    ("mig_spec", "message"),
    [
        (
            MigSpec(current=False, instances=[MigInstanceSpec(profile="1g.10gb", memory_mib=9984)]),
            "instances need MIG enabled",
        ),
        (
            MigSpec(current=True, instances=[MigInstanceSpec(profile="2g.20gb", memory_mib=9984)]),
            "9984 MiB of a 81559 MiB GPU is profile 2g.10gb",
        ),
        (
            MigSpec(current=True, instances=[MigInstanceSpec(profile="3g.40gb", count=3, memory_mib=40320)]),
            "exceed the GPU",
        ),
        (
            MigSpec(current=True, instances=[MigInstanceSpec(profile="big", memory_mib=1)]),
            "needs a profile like 3g.40gb",
        ),
    ],
)
def test_a_mig_layout_the_gpu_cannot_have_is_refused(
    machines: Machines, mig_spec: MigSpec, message: str
) -> None:
    spec = machines.with_gpu(machines.builtin("dgx-h100"), 0, mig=mig_spec)
    with pytest.raises(MachineError, match=message):
        validate_machine(spec, "test")
