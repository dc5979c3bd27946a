"""Rules on the GPUs as NVML sees them (`NIM-GPU-*`)."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from nimdoctor.catalog import Check
from nimdoctor.gpus import version_tuple
from nimdoctor.report import Facts, Finding, GpuFacts, GpuInfo, Status
from nimdoctor.rules.registry import finding, node_rule

SHARING_LABEL = "nvidia.com/gpu.sharing-strategy"
PRODUCT_LABEL = "nvidia.com/gpu.product"


def gpu_facts(facts: Facts) -> GpuFacts | None:
    """The GPU facts, or None when the GPU probe did not run."""
    return facts.gpu if facts.gpu is not UNSET else None


def usable(facts: Facts, check: Check) -> tuple[list[GpuInfo], Finding | None]:
    """The GPUs that answered, or a `skip` finding when NVML gave nothing to judge."""
    gpu = gpu_facts(facts)
    if gpu is None:
        return [], finding(check, Status.SKIP, "the GPU probe did not run")
    if gpu.nvml_error is not UNSET:
        return [], finding(check, Status.SKIP, "NVML is not usable; see NIM-GPU-001")
    answering = [g for g in gpu.gpus if g.error is UNSET]
    if not answering:
        return [], finding(check, Status.SKIP, "no GPU answered; see NIM-GPU-001 and NIM-GPU-003")
    return answering, None


def indices(gpus: list[GpuInfo]) -> str:
    """GPU indices as people list them."""
    return ", ".join(str(g.index) for g in gpus)


@node_rule("NIM-GPU-001", "gpu")
def nvml_usable(facts: Facts, check: Check) -> Finding:
    """NVML loads, initialises and lists at least one GPU; the fix names the cause."""
    gpu = gpu_facts(facts)
    if gpu is None:
        return finding(check, Status.SKIP, "the GPU probe did not run")
    remedies: dict[str, str] = dict(check.params["remedies"])
    if gpu.nvml_error is not UNSET:
        code = gpu.nvml_error.code
        evidence = {"code": code, "message": gpu.nvml_error.message}
        remedy = remedies.get(code, remedies["other"])
        # A hang tells nothing definite about the driver: the check could not be evaluated.
        status = Status.ERROR if code == "Timeout" else Status.FAIL
        return finding(check, status, f"NVML: {code}: {gpu.nvml_error.message}", evidence, remedy=remedy)
    if not gpu.gpus:
        return finding(
            check,
            Status.FAIL,
            "NVML works but lists no GPU",
            {"gpuCount": gpu.gpu_count},
            remedy=remedies["NoGpus"],
        )
    return finding(
        check,
        Status.PASS,
        f"NVML {gpu.nvml_version or '<unknown>'}, driver {gpu.driver_version or '<unknown>'}, "
        f"{len(gpu.gpus)} GPU(s)",
        {"driverVersion": gpu.driver_version, "cudaDriverVersion": gpu.cuda_driver_version},
    )


@node_rule("NIM-GPU-002", "gpu")
def homogeneous(facts: Facts, check: Check) -> Finding:
    """All GPUs that answered have the same name."""
    gpus, skipped = usable(facts, check)
    if skipped:
        return skipped
    by_model: dict[str, list[int]] = {}
    for g in gpus:
        by_model.setdefault(g.name or "<unknown>", []).append(g.index)
    if len(by_model) == 1:
        return finding(check, Status.PASS, f"{len(gpus)} x {next(iter(by_model))}")
    models = "; ".join(f"{name} (GPU {', '.join(map(str, idx))})" for name, idx in by_model.items())
    return finding(check, Status.FAIL, f"mixed GPU models: {models}", {"models": by_model}, models=models)


@node_rule("NIM-GPU-003", "gpu")
def all_answer(facts: Facts, check: Check) -> Finding:
    """No GPU is lost or unreadable."""
    gpu = gpu_facts(facts)
    if gpu is None or gpu.nvml_error is not UNSET:
        return finding(check, Status.SKIP, "NVML is not usable; see NIM-GPU-001")
    lost = [g for g in gpu.gpus if g.error is not UNSET]
    if not lost:
        return finding(check, Status.PASS, f"all {len(gpu.gpus)} GPU(s) answer")
    errors = "; ".join(f"GPU {g.index}: {g.error}" for g in lost)
    evidence = {
        "lost": {str(g.index): g.error for g in lost},
        "busIds": {str(g.index): g.bus_id for g in lost},
    }
    return finding(check, Status.FAIL, errors, evidence, gpus=indices(lost), errors=errors)


@node_rule("NIM-GPU-004", "gpu")
def nvlink_not_degraded(facts: Facts, check: Check) -> Finding:
    """No NVLink GPU has some links active and others down."""
    gpus, skipped = usable(facts, check)
    if skipped:
        return skipped
    degraded: dict[int, list[int]] = {}
    for g in gpus:
        active = [link for link in g.nvlinks if link.active is True]
        down = [link.link for link in g.nvlinks if link.active is False]
        if active and down:
            degraded[g.index] = down
    if not any(g.nvlinks for g in gpus):
        return finding(check, Status.PASS, "no NVLink on this node")
    if not degraded:
        return finding(check, Status.PASS, "every NVLink GPU has all its links up")
    links = "; ".join(f"GPU {i}: link(s) {', '.join(map(str, down))}" for i, down in degraded.items())
    return finding(
        check,
        Status.FAIL,
        f"inactive NVLinks beside active ones: {links}",
        {"inactive": {str(i): down for i, down in degraded.items()}},
        gpus=", ".join(map(str, degraded)),
        links=links,
    )


@node_rule("NIM-GPU-005", "gpu")
def fabric_trained(facts: Facts, check: Check) -> Finding:
    """On NVSwitch systems that report fabric state (Hopper and newer), every GPU's fabric is COMPLETED."""
    gpus, skipped = usable(facts, check)
    if skipped:
        return skipped
    gpu = gpu_facts(facts)
    assert gpu is not None  # usable() returned GPUs
    reporting = [g for g in gpus if g.fabric is not None and g.fabric.state != "not_supported"]
    if not gpu.nvswitch_system or not reporting:
        return finding(
            check, Status.SKIP, "no NVSwitch fabric state on this node (no switch, or pre-Hopper GPUs)"
        )
    bad = [
        g
        for g in reporting
        if g.fabric is not None
        and (g.fabric.state != "completed" or g.fabric.status not in (None, "SUCCESS"))
    ]
    states = {str(g.index): f"{g.fabric.state}/{g.fabric.status}" for g in reporting if g.fabric is not None}
    if not bad:
        return finding(check, Status.PASS, f"fabric COMPLETED on {len(reporting)} GPU(s)", {"states": states})
    summary = ", ".join(f"GPU {g.index} {states[str(g.index)]}" for g in bad)
    return finding(
        check,
        Status.FAIL,
        f"fabric not trained: {summary}",
        {"states": states},
        states=summary,
        driver=gpu.driver_version or "<unknown>",
    )


@node_rule("NIM-GPU-006", "gpu")
def vgpu_multi_gpu_p2p(facts: Facts, check: Check) -> Finding:
    """A vGPU guest with several GPUs has NVLink P2P between them."""
    gpus, skipped = usable(facts, check)
    if skipped:
        return skipped
    gpu = gpu_facts(facts)
    assert gpu is not None
    if not any(g.virtualization_mode == "vgpu" for g in gpus):
        return finding(check, Status.SKIP, "not a vGPU guest")
    if len(gpus) < 2:
        return finding(check, Status.PASS, "one vGPU: single-GPU models only, as sized")
    clique = gpu.nvlink.max_clique
    evidence = {"gpus": len(gpus), "maxNvlinkClique": clique, "names": sorted({g.name or "" for g in gpus})}
    if clique > 1:
        return finding(check, Status.PASS, f"vGPUs with NVLink P2P (largest clique {clique})", evidence)
    product = ", ".join(sorted({g.name or "<unknown>" for g in gpus}))
    return finding(
        check,
        Status.FAIL,
        f"{len(gpus)} vGPUs ({product}) without NVLink P2P: multi-GPU models cannot run here",
        evidence,
        count=len(gpus),
        product=product,
    )


def _on(flag: bool | None) -> str:
    return "on" if flag else "off"


@node_rule("NIM-GPU-007", "gpu")
def mig_off(facts: Facts, check: Check) -> Finding:
    """MIG is disabled and no MIG change waits for a reset."""
    gpus, skipped = usable(facts, check)
    if skipped:
        return skipped
    enabled = [g for g in gpus if g.mig_enabled]
    pending = [g for g in gpus if g.mig_pending is not None and g.mig_pending != g.mig_enabled]
    if not enabled and not pending:
        supported = any(g.mig_enabled is not None for g in gpus)
        return finding(check, Status.PASS, "MIG disabled" if supported else "MIG not supported by these GPUs")
    shown = sorted({g.index for g in enabled + pending})
    modes = "; ".join(
        f"GPU {g.index} current {_on(g.mig_enabled)}, pending {_on(g.mig_pending)}"
        for g in gpus
        if g.index in shown
    )
    status = Status.FAIL if pending else Status.WARN
    message = f"MIG change pending a GPU reset: {modes}" if pending else f"MIG enabled: {modes}"
    return finding(check, status, message, {"gpus": shown}, gpus=", ".join(map(str, shown)), modes=modes)


@node_rule("NIM-GPU-008", "gpu")
def compute_capability(facts: Facts, check: Check) -> Finding:
    """Compute capability above the minimum (7.0)."""
    gpus, skipped = usable(facts, check)
    if skipped:
        return skipped
    minimum = str(check.params["minExclusive"])
    known = [g for g in gpus if g.compute_capability]
    if not known:
        return finding(check, Status.SKIP, "compute capability unknown")
    old = [g for g in known if version_tuple(g.compute_capability or "") <= version_tuple(minimum)]
    ccs = sorted({g.compute_capability or "" for g in known})
    if not old:
        return finding(check, Status.PASS, f"compute capability {', '.join(ccs)}")
    cc = ", ".join(sorted({g.compute_capability or "" for g in old}))
    return finding(
        check,
        Status.FAIL,
        f"GPU(s) {indices(old)} have compute capability {cc}; NIM needs more than {minimum}",
        {"computeCapability": cc},
        gpus=indices(old),
        cc=cc,
        minimum=minimum,
    )


@node_rule("NIM-GPU-009", "gpu")
def driver_recent(facts: Facts, check: Check) -> Finding:
    """The driver is at least `minDriver`."""
    gpu = gpu_facts(facts)
    if gpu is None or gpu.nvml_error is not UNSET:
        return finding(check, Status.SKIP, "NVML is not usable; see NIM-GPU-001")
    minimum = str(check.params["minDriver"])
    driver = gpu.driver_version
    if not driver or not version_tuple(driver):
        why = facts.unmeasured.get("driver") if facts.unmeasured is not UNSET else None
        return finding(
            check, Status.SKIP, f"driver version unknown: {why}" if why else "driver version unknown"
        )
    evidence: dict[str, Any] = {"driverVersion": driver, "minimum": minimum}
    if version_tuple(driver) >= version_tuple(minimum):
        return finding(check, Status.PASS, f"driver {driver}", evidence)
    return finding(
        check,
        Status.FAIL,
        f"driver {driver} is older than {minimum}",
        evidence,
        driver=driver,
        minimum=minimum,
    )


@node_rule("NIM-GPU-010", "node")
def not_shared(facts: Facts, check: Check) -> Finding:
    """GPU Feature Discovery's labels show no time-slicing or MPS sharing."""
    if facts.node is UNSET:
        return finding(check, Status.SKIP, "the node's labels are not visible to nimdoctor here")
    labels = facts.node.labels
    shown = {k: v for k, v in labels.items() if k in (SHARING_LABEL, PRODUCT_LABEL)}
    strategy = labels.get(SHARING_LABEL, "none")
    shared_product = labels.get(PRODUCT_LABEL, "").upper().endswith("-SHARED")
    if strategy == "none" and not shared_product:
        return finding(check, Status.PASS, "no GPU sharing labels", shown)
    text = ", ".join(f"{k}={v}" for k, v in shown.items())
    return finding(check, Status.FAIL, f"GPUs are shared: {text}", shown, labels=text)
