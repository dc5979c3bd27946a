"""The NVML fake through the real nvidia-ml-py wrappers: what it accepts, rejects and answers."""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pynvml
import pytest

from nimdoctor import gpus as gpu_models
from nimdoctor.simulation.fakenvml import FakeNvmlLib, build_topology, installed
from nimdoctor.simulation.machine import (
    Machine,
    MachineError,
    MachineSpec,
    MemorySpec,
    builtin_names,
    load_builtin,
)
from nimdoctor.simulation.nvml import simulated_nvml
from tests.probes.conftest import Machines

MIB = 1 << 20


@contextmanager
def nvml_on(spec: MachineSpec) -> Iterator[FakeNvmlLib]:
    """The fake installed and NVML initialised through the binding (shut down on exit)."""
    with installed(spec) as fake:
        pynvml.nvmlInit()
        try:
            yield fake
        finally:
            pynvml.nvmlShutdown()


def handle(index: int) -> Any:
    return pynvml.nvmlDeviceGetHandleByIndex(index)


# Installing


def test_install_and_uninstall_restore_the_binding(machines: Machines) -> None:
    before = (pynvml.nvmlLib, pynvml.CDLL, pynvml._nvmlLib_refcount)
    strings = dict(pynvml.NVMLError._errcode_to_string)
    with installed(machines.builtin("l40s-4x")) as fake:
        assert pynvml.nvmlLib is fake
        pynvml.nvmlInit()
        # An error the binding has no text for asks nvmlErrorString, and caches the answer.
        error = pynvml.NVMLError(pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        assert str(error) == "Argument version mismatch"
        pynvml.nvmlShutdown()
    assert (pynvml.nvmlLib, pynvml.CDLL, pynvml._nvmlLib_refcount) == before
    assert pynvml.NVMLError._errcode_to_string == strings
    assert "nvmlInitWithFlags" not in pynvml._nvmlGetFunctionPointer_cache


def test_only_one_fake_at_a_time(machines: Machines) -> None:
    spec = machines.builtin("l40s-4x")
    with installed(spec), pytest.raises(RuntimeError), installed(spec):
        pass


def test_simulated_nvml_yields_the_real_module_and_checks_the_description_first(machines: Machines) -> None:
    with simulated_nvml(load_builtin("l40s-4x"))() as nvml:
        assert nvml is pynvml
        assert isinstance(pynvml.nvmlLib, FakeNvmlLib)
    bad = machines.with_gpu(machines.builtin("l40s-4x"), 0, architecture="quantum")
    with pytest.raises(MachineError, match="architecture"):
        simulated_nvml(Machine(spec=bad))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"brand": "shiny"}, "brand"),
        ({"computeCapability": "nine"}, "computeCapability"),
        ({"faults": [{"function": "nvmlDeviceGetNam", "error": "UNKNOWN"}]}, "nvmlDeviceGetNam"),
        ({"faults": [{"function": "*", "error": "GPU_IS_GONE"}]}, "GPU_IS_GONE"),
    ],
)
def test_descriptions_nvml_cannot_express_are_rejected(
    machines: Machines, change: dict[str, Any], match: str
) -> None:
    spec = machines.builtin("l40s-4x")
    raw = msgspec.to_builtins(spec)
    raw["gpus"][0].update(change)
    # The description's own types refuse what they can express (a computeCapability that is not N.N).
    with pytest.raises((MachineError, msgspec.ValidationError), match=match):
        build_topology(msgspec.convert(raw, MachineSpec))


# Library and initialisation


def test_calls_before_init_and_after_shutdown_are_uninitialized(machines: Machines) -> None:
    with installed(machines.builtin("l40s-4x")):
        with pytest.raises(pynvml.NVMLError_Uninitialized):
            pynvml.nvmlDeviceGetCount()
        pynvml.nvmlInit()
        assert pynvml.nvmlDeviceGetCount() == 4
        pynvml.nvmlShutdown()
        with pytest.raises(pynvml.NVMLError_Uninitialized):
            pynvml.nvmlDeviceGetCount()
        with pytest.raises(pynvml.NVMLError_Uninitialized):
            pynvml.nvmlShutdown()


def test_library_not_found_surfaces_as_a_failing_cdll_does(machines: Machines) -> None:
    with installed(machines.builtin("no-driver")) as fake:
        assert pynvml.nvmlLib is None
        with pytest.raises(pynvml.NVMLError_LibraryNotFound):
            pynvml.nvmlInit()
        assert pynvml.nvmlLib is None
        assert sum(fake.calls.values()) == 0


@pytest.mark.parametrize(
    ("error", "exception"),
    [
        ("DRIVER_NOT_LOADED", "NVMLError_DriverNotLoaded"),
        ("NO_PERMISSION", "NVMLError_NoPermission"),
        ("LIB_RM_VERSION_MISMATCH", "NVMLError_LibRmVersionMismatch"),
    ],
)
def test_init_errors(machines: Machines, error: str, exception: str) -> None:
    spec = machines.with_system(machines.builtin("l40s-4x"), init_error=error)
    with installed(spec), pytest.raises(getattr(pynvml, exception)):
        pynvml.nvmlInit()


def test_a_missing_symbol_is_function_not_found(machines: Machines) -> None:
    spec = machines.with_system(machines.builtin("dgx-h100"), missing_symbols=["nvmlDeviceGetMemoryInfo_v2"])
    with nvml_on(spec):
        with pytest.raises(pynvml.NVMLError_FunctionNotFound):
            pynvml.nvmlDeviceGetMemoryInfo(handle(0), version=pynvml.nvmlMemory_v2)
        assert pynvml.nvmlDeviceGetMemoryInfo(handle(0)).total == 81559 * MIB


# Arguments the real library rejects


def test_non_int_arguments_fail_as_ctypes_would(machines: Machines) -> None:
    with nvml_on(machines.builtin("dgx-h100")):
        h0, h1 = handle(0), handle(1)
        with pytest.raises(ctypes.ArgumentError):
            pynvml.nvmlDeviceGetP2PStatus(h0, h1, pynvml.NVML_P2P_CAPS_INDEX_READ)  # the tuple (0,)
        with pytest.raises(ctypes.ArgumentError):
            pynvml.nvmlDeviceGetNvLinkState(h0, 1.0)
        with pytest.raises(ctypes.ArgumentError):
            pynvml.nvmlDeviceGetNvLinkRemotePciInfo(h0, "0")
        with pytest.raises(TypeError):  # the wrapper's own c_uint(index)
            pynvml.nvmlDeviceGetHandleByIndex("0")
        assert pynvml.nvmlDeviceGetP2PStatus(h0, h1, 0) == pynvml.NVML_P2P_STATUS_OK


def test_wrong_struct_versions_are_argument_version_mismatch(machines: Machines) -> None:
    with nvml_on(machines.builtin("dgx-h100")):
        with pytest.raises(pynvml.NVMLError_ArgumentVersionMismatch):
            pynvml.nvmlDeviceGetMemoryInfo(handle(0), version=1)
        info = pynvml.c_nvmlGpuFabricInfoV_t()
        info.version = 1
        with pytest.raises(pynvml.NVMLError_ArgumentVersionMismatch):
            pynvml.nvmlDeviceGetGpuFabricInfoV(handle(0), ctypes.byref(info))
        v3 = pynvml.c_nvmlGpuFabricInfo_v3_t()
        pynvml.nvmlDeviceGetGpuFabricInfoV(handle(0), ctypes.byref(v3))
        assert v3.state == pynvml.NVML_GPU_FABRIC_STATE_COMPLETED
        assert v3.healthSummary == pynvml.NVML_GPU_FABRIC_HEALTH_SUMMARY_HEALTHY


def test_indices_past_the_end_are_invalid_arguments(machines: Machines) -> None:
    with nvml_on(machines.builtin("dgx-h100")):
        with pytest.raises(pynvml.NVMLError_InvalidArgument):
            handle(8)
        assert pynvml.nvmlDeviceGetNvLinkState(handle(0), 17) == pynvml.NVML_FEATURE_ENABLED
        for call in (
            pynvml.nvmlDeviceGetNvLinkState,
            pynvml.nvmlDeviceGetNvLinkRemotePciInfo,
            pynvml.nvmlDeviceGetNvLinkRemoteDeviceType,
            pynvml.nvmlDeviceGetNvLinkVersion,
        ):
            with pytest.raises(pynvml.NVMLError_InvalidArgument):
                call(handle(0), 18)
        with pytest.raises(pynvml.NVMLError_InvalidArgument):
            pynvml.nvmlDeviceGetNvLinkState(handle(0), -1)


def test_capability_answers_true_for_every_index_below_max_links(machines: Machines) -> None:
    with nvml_on(machines.builtin("hgx-a100-80gb")):
        caps = {pynvml.nvmlDeviceGetNvLinkCapability(handle(0), link, 0) for link in range(36)}
        assert caps == {1}
        assert pynvml.NVML_NVLINK_MAX_LINKS == 36
        with pytest.raises(pynvml.NVMLError_InvalidArgument):
            pynvml.nvmlDeviceGetNvLinkCapability(handle(0), pynvml.NVML_NVLINK_MAX_LINKS, 0)
        with pytest.raises(pynvml.NVMLError_InvalidArgument):
            pynvml.nvmlDeviceGetNvLinkState(handle(0), 12)


def test_nvlink_calls_on_a_gpu_without_nvlink_are_not_supported(machines: Machines) -> None:
    with nvml_on(machines.builtin("l40s-4x")):
        for call in (pynvml.nvmlDeviceGetNvLinkState, pynvml.nvmlDeviceGetNvLinkRemotePciInfo):
            with pytest.raises(pynvml.NVMLError_NotSupported):
                call(handle(0), 0)
        with pytest.raises(pynvml.NVMLError_NotSupported):
            pynvml.nvmlDeviceGetNvLinkCapability(handle(0), 0, 0)
        fields = pynvml.nvmlDeviceGetFieldValues(handle(0), [pynvml.NVML_FI_DEV_NVLINK_LINK_COUNT])
        assert fields[0].nvmlReturn == pynvml.NVML_ERROR_NOT_SUPPORTED


# Answers


def test_identity_answers_agree_with_each_other(machines: Machines) -> None:
    spec = machines.builtin("dgx-h100")
    with nvml_on(spec):
        for gpu in spec.gpus:
            h = handle(gpu.index)
            pci = pynvml.nvmlDeviceGetPciInfo(h)
            assert pci.busId == gpu.bus_id
            assert pci.busIdLegacy == gpu.bus_id[4:]
            assert (pci.bus, pci.pciDeviceId) == (int(gpu.bus_id.split(":")[1], 16), gpu.pci_device_id)
            assert pynvml.nvmlDeviceGetIndex(pynvml.nvmlDeviceGetHandleByUUID(gpu.uuid)) == gpu.index
            by_bus_id = pynvml.nvmlDeviceGetHandleByPciBusId(pci.busIdLegacy)
            assert pynvml.nvmlDeviceGetIndex(by_bus_id) == gpu.index
            assert pynvml.nvmlDeviceGetCudaComputeCapability(h) == (9, 0)
            assert pynvml.nvmlDeviceGetArchitecture(h) == pynvml.NVML_DEVICE_ARCH_HOPPER
            assert pynvml.nvmlDeviceGetBrand(h) == pynvml.NVML_BRAND_NVIDIA
            assert pynvml.nvmlDeviceIsMigDeviceHandle(h).value == 0
        with pytest.raises(pynvml.NVMLError_NotFound):
            pynvml.nvmlDeviceGetHandleByUUID("GPU-00000000-0000-0000-0000-000000000000")


def test_memory_v1_counts_reserved_as_used(machines: Machines) -> None:
    memory = MemorySpec(total_mib=46068, reserved_mib=500, used_mib=1)
    spec = machines.with_gpu(machines.builtin("l40s-4x"), 0, memory=memory)
    with nvml_on(spec):
        v1 = pynvml.nvmlDeviceGetMemoryInfo(handle(0))
        v2 = pynvml.nvmlDeviceGetMemoryInfo(handle(0), version=pynvml.nvmlMemory_v2)
        assert v1.total == v2.total == 46068 * MIB
        assert (v2.reserved, v2.used) == (500 * MIB, 1 * MIB)
        assert v1.used == v2.used + v2.reserved
        assert v1.free == v2.free == v2.total - v2.reserved - v2.used


def test_numa_comes_from_memory_affinity(machines: Machines) -> None:
    with nvml_on(machines.builtin("l40s-4x")):
        assert [pynvml.nvmlDeviceGetMemoryAffinity(handle(i), 1, 0)[0] for i in range(4)] == [1, 1, 2, 2]
        with pytest.raises(pynvml.NVMLError_NotSupported):
            pynvml.nvmlDeviceGetNumaNodeId(handle(0))


def test_field_values_count_links_and_switch_links(machines: Machines) -> None:
    ids = [pynvml.NVML_FI_DEV_NVLINK_LINK_COUNT, pynvml.NVML_FI_DEV_NVSWITCH_CONNECTED_LINK_COUNT]
    expected = [("dgx-h100", 18, 18), ("h100-pcie-nvlink-pairs", 12, 0), ("h100-vgpu-4x", 18, 0)]
    for name, links, switch_links in expected:
        with nvml_on(machines.builtin(name)):
            values = pynvml.nvmlDeviceGetFieldValues(handle(0), ids)
            assert [v.nvmlReturn for v in values] == [pynvml.NVML_SUCCESS] * 2
            assert [v.value.uiVal for v in values] == [links, switch_links]


def test_vgpu_guest_signature(machines: Machines) -> None:
    with nvml_on(machines.builtin("l40s-vgpu-2x")):
        h0, h1 = handle(0), handle(1)
        assert pynvml.nvmlDeviceGetVirtualizationMode(h0) == pynvml.NVML_GPU_VIRTUALIZATION_MODE_VGPU
        with pytest.raises(pynvml.NVMLError_NotSupported):
            pynvml.nvmlDeviceGetHostVgpuMode(h0)
        assert pynvml.nvmlDeviceGetBrand(h0) == pynvml.NVML_BRAND_NVIDIA_VCS
        assert pynvml.nvmlDeviceGetMigMode(h0) == [0, 0]
        assert pynvml.nvmlDeviceGetMemoryInfo(h0, version=pynvml.nvmlMemory_v2).total == 48 * 1024 * MIB
        for index in (0, 1, 2, 3, 4):  # no P2P of any kind: no NVLink, and none over PCIe in a guest
            assert pynvml.nvmlDeviceGetP2PStatus(h0, h1, index) == pynvml.NVML_P2P_STATUS_NOT_SUPPORTED


def test_pcie_p2p_stops_at_the_socket(machines: Machines) -> None:
    pci = pynvml.NVML_P2P_CAPS_INDEX_PCI
    with nvml_on(machines.builtin("l40s-4x")):
        assert pynvml.nvmlDeviceGetP2PStatus(handle(0), handle(1), pci) == pynvml.NVML_P2P_STATUS_OK
        assert pynvml.nvmlDeviceGetP2PStatus(handle(0), handle(2), pci) == (
            pynvml.NVML_P2P_STATUS_CHIPSET_NOT_SUPPORTED
        )
        with pytest.raises(pynvml.NVMLError_InvalidArgument):
            pynvml.nvmlDeviceGetP2PStatus(handle(0), handle(1), pynvml.NVML_P2P_CAPS_INDEX_UNKNOWN)


def test_hidden_switches_are_unidentifiable_yet_carry_p2p(machines: Machines) -> None:
    with nvml_on(machines.builtin("h100-vgpu-4x")):
        h0, h3 = handle(0), handle(3)
        assert pynvml.nvmlDeviceGetNvLinkRemotePciInfo(h0, 0).busId == "FFFFFFFF:FF:FF.0"
        assert pynvml.nvmlDeviceGetNvLinkRemoteDeviceType(h0, 0) == pynvml.NVML_NVLINK_DEVICE_TYPE_UNKNOWN
        status = pynvml.nvmlDeviceGetP2PStatus(h0, h3, pynvml.NVML_P2P_CAPS_INDEX_NVLINK)
        assert status == pynvml.NVML_P2P_STATUS_OK


def test_mig_mode_and_p2p_under_mig(machines: Machines) -> None:
    with nvml_on(machines.builtin("a100-mig")):
        assert pynvml.nvmlDeviceGetMigMode(handle(0)) == [1, 1]
        assert pynvml.nvmlDeviceGetNvLinkState(handle(0), 0) == pynvml.NVML_FEATURE_ENABLED
        status = pynvml.nvmlDeviceGetP2PStatus(handle(0), handle(1), pynvml.NVML_P2P_CAPS_INDEX_NVLINK)
        assert status == pynvml.NVML_P2P_STATUS_NOT_SUPPORTED
    with nvml_on(machines.builtin("l40s-4x")), pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlDeviceGetMigMode(handle(0))


# Faults


def test_a_fault_after_n_calls_is_sticky(machines: Machines) -> None:
    spec = machines.builtin("l40s-4x")
    spec = machines.with_fault(spec, 1, function="nvmlDeviceGetName", error="UNKNOWN", after_calls=2)
    with nvml_on(spec):
        assert [pynvml.nvmlDeviceGetName(handle(1)) for _ in range(2)] == ["NVIDIA L40S"] * 2
        for _ in range(3):
            with pytest.raises(pynvml.NVMLError_Unknown):
                pynvml.nvmlDeviceGetName(handle(1))
        assert pynvml.nvmlDeviceGetName(handle(0)) == "NVIDIA L40S"
        assert pynvml.nvmlDeviceGetUUID(handle(1)).startswith("GPU-")


def test_a_lost_gpu_fails_from_its_handle_on(machines: Machines) -> None:
    with nvml_on(machines.builtin("gpu-lost")):
        with pytest.raises(pynvml.NVMLError_GpuIsLost):
            handle(3)
        assert pynvml.nvmlDeviceGetCount() == 8
        assert pynvml.nvmlDeviceGetName(handle(4)) == "NVIDIA H100 80GB HBM3"


def test_uninstall_wakes_a_hung_call(machines: Machines) -> None:
    spec = machines.with_fault(machines.builtin("l40s-4x"), 0, function="nvmlDeviceGetName", hang_seconds=30)
    done = threading.Event()
    with installed(spec):
        pynvml.nvmlInit()
        h0 = handle(0)

        def call() -> None:
            pynvml.nvmlDeviceGetName(h0)
            done.set()

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        time.sleep(0.05)
        assert not done.is_set()
        started = time.monotonic()
    assert time.monotonic() - started < 2
    assert done.is_set()


# The built-in machines


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_gpus_agree_with_the_model_table(name: str) -> None:
    """Physical names match nimdoctor.gpus; vGPU profiles carry their board's ids and the profile's memory."""
    spec = load_builtin(name).spec
    assert spec.metadata.source.strip()
    for gpu in spec.gpus:
        model = gpu_models.by_name(gpu.name)
        if model is None:
            profile = gpu_models.vgpu_profile(gpu.name)
            assert profile is not None
            board = next(m for m in gpu_models.KNOWN if gpu_models.product(gpu.name) == m.product)
            assert gpu.memory is not None
            assert gpu.memory.total_mib == profile[2] * 1024
            model = board
        else:
            assert gpu.memory is not None
            assert gpu.memory.total_mib == model.memory_mib
        assert gpu.pci_device_id == model.pci_device_id
        assert (gpu.architecture, gpu.compute_capability) == (model.architecture, model.compute_capability)
        links = sum(link.count for link in gpu.nvlink.links) if gpu.nvlink else 0
        assert links == model.nvlinks
    # Every built-in machine says what host it stands for: the VKS image's, or its own containerd.
    assert spec.host is not None
    assert (spec.host.preset is None) == (name == "dgx-h100-containerd2")
