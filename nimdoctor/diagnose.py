"""The one pipeline: run the probes the selected checks need, apply the rules, return a Report.

`nimdoctor run` and the agent both call `diagnose`; neither probes or judges any other way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from msgspec import UNSET

from nimdoctor import rules
from nimdoctor.capabilities import derive_capabilities
from nimdoctor.catalog import Catalog
from nimdoctor.probes.gpu import probe_gpu
from nimdoctor.probes.hostfs import HostFS
from nimdoctor.probes.nvml_source import NvmlSource, real_nvml
from nimdoctor.probes.runtime import probe_runtime
from nimdoctor.report import (
    Facts,
    Finding,
    GpuFacts,
    NodeFacts,
    Report,
    Severity,
    Status,
    at_least,
    format_time,
)
from nimdoctor.rules.registry import Probe, crashed

if TYPE_CHECKING:
    from nimdoctor.placement import ModelRequest

PLACEMENT_PROBES: frozenset[Probe] = frozenset({"runtime", "gpu"})


@dataclass(frozen=True)
class Sources:
    """Where the probes read from: the real node, a fixture tree, or a simulated machine.

    `node_labels` is None when nimdoctor cannot see its Node object; `unmeasured` names the facts a
    described machine does not hold, and why (see `Facts.unmeasured`).
    """

    host: HostFS
    nvml: NvmlSource = real_nvml
    node_labels: Mapping[str, str] | None = None
    simulated: str | None = None
    unmeasured: Mapping[str, str] = field(default_factory=dict)
    gpu_deadline: float = 10.0
    runtime_deadline: float = 10.0


def node_rules(catalog: Catalog, only: Iterable[str] | None = None) -> list[rules.Registered]:
    """The node rules to run, in catalog order; `only` restricts them to those ids (validated)."""
    wanted = set(only) if only is not None else None
    if wanted is not None:
        unknown = sorted(wanted - set(catalog.checks))
        if unknown:
            raise KeyError(f"unknown check id(s): {', '.join(unknown)}")
    return [
        rules.RULES[check_id]
        for check_id in catalog.checks
        if check_id in rules.RULES
        and rules.RULES[check_id].kind == "node"
        and (wanted is None or check_id in wanted)
    ]


def collect_facts(sources: Sources, probes: set[Probe]) -> Facts:
    """Run the probes named in `probes`; the others stay absent from the facts."""
    values: dict[str, Any] = {"unmeasured": dict(sources.unmeasured)} if sources.unmeasured else {}
    if "runtime" in probes and "openFiles" not in sources.unmeasured:
        values["runtime"] = probe_runtime(sources.host, deadline=sources.runtime_deadline)
    if "gpu" in probes:
        values["gpu"] = probe_gpu_from(sources)
    if "node" in probes and sources.node_labels is not None:
        values["node"] = NodeFacts(labels=dict(sources.node_labels))
    return Facts(**values)


def probe_gpu_from(sources: Sources) -> GpuFacts:
    """The GPU probe, reading NVML from `sources`."""
    with sources.nvml() as nvml:
        return probe_gpu(nvml, deadline=sources.gpu_deadline)


def judge(facts: Facts, catalog: Catalog, selected: list[rules.Registered]) -> list[Finding]:
    """Apply each rule; a rule that raises becomes an `error` finding, never a crash."""
    findings = []
    for registered in selected:
        check = catalog.get(registered.check_id)
        try:
            findings.append(registered.fn(facts, check))
        except Exception as exc:  # a bug in one rule must not hide the other findings
            findings.append(crashed(check, exc))
    return findings


def is_ready(findings: Iterable[Finding]) -> bool:
    """A node is ready unless a critical check failed or could not be evaluated."""
    return not any(
        f.severity is Severity.CRITICAL and f.status in (Status.FAIL, Status.ERROR) for f in findings
    )


def diagnose(
    sources: Sources,
    catalog: Catalog,
    node: str,
    only: Iterable[str] | None = None,
    model: ModelRequest | None = None,
    now: dt.datetime | None = None,
) -> Report:
    """Probe, judge and summarise one node; with `model`, also place that model on it.

    Raises `RequirementError` for a malformed model request.
    """
    selected = node_rules(catalog, only)
    probes: set[Probe] = set().union(*(r.probes for r in selected))
    if model is not None:
        probes |= PLACEMENT_PROBES  # placement decides on the GPU and runtime capabilities
    facts = collect_facts(sources, probes)
    findings = judge(facts, catalog, selected)
    ready = is_ready(findings)
    capabilities = derive_capabilities(facts, ready=ready)
    placement: Any = UNSET
    if model is not None:
        # Imported only when a model is asked about: a plain diagnosis starts faster without it.
        from nimdoctor.placement import place

        placement = place(capabilities, model, catalog)
    generated = format_time(now or dt.datetime.now(dt.UTC))
    return Report(
        node=node,
        generated_at=generated,
        simulated=sources.simulated or UNSET,
        ready=ready,
        facts=facts,
        capabilities=capabilities,
        findings=findings,
        placement=placement,
    )


def exit_code(report: Report, fail_on: Severity = Severity.WARNING) -> int:
    """1 when a check failed or the model does not fit; else 3 when something could not be evaluated
    (an unknown model included); else 0. A model that does not fit always carries a fail or error reason.

    Only findings of checks at least as severe as `fail_on` count; the model's verdict always does.
    """
    statuses = {f.status for f in report.findings if at_least(f.severity, fail_on)}
    if report.placement is not UNSET:
        statuses |= {r.status for r in report.placement.reasons}
    if Status.FAIL in statuses:
        return 1
    if Status.ERROR in statuses:
        return 3
    return 0
