"""Does a requirement fit a node: `fit` (one node), `fit_nodes` (many), `place` (choose the TP for a model).

Reasons come in a fixed precedence, most fundamental first, because the scheduler extender shows the first:
not ready (008), GPU count (002), memory (001), vGPU multi-GPU (004), NVLink (003), precision (010),
tensor-parallel size (011), profile GPU (007), MIG (009), open files (005), multi-node (006). A verdict
`fits` when no reason is a failure or an error (warnings ride along as cautions); it is `False` when one
fails, and `None` when nothing fails but something could not be judged (unknown model size, GPU memory or
GPU model): readers treat `None` as unknown, never as a fit.

Before the rules run, the requirement becomes what this node would serve (`variants.for_node`: NIM's own
precision choice, MIG devices under the single strategy).

Speed: the extender calls `fit` for every candidate node on the scheduler's hot path. Nodes come in a few
shapes, so verdicts are memoised per (catalog, requirement) on the capabilities value itself (one C-level
hash), and evaluated once per shape: capabilities that differ only in fields placement ignores (the driver
version) share one evaluation.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec
from msgspec import UNSET

from nimdoctor.catalog import Catalog
from nimdoctor.placement.errors import RequirementError
from nimdoctor.placement.layouts import node_max_tp, smallest_mig_slice, tp_candidates
from nimdoctor.placement.profiles import parse_profile
from nimdoctor.placement.requirement import requirement_from_model
from nimdoctor.placement.rules import RULES
from nimdoctor.placement.settings import PerCatalog, Settings, settings
from nimdoctor.placement.variants import for_node, single_strategy_slice
from nimdoctor.report import Capabilities, Placement, Reason, Requirement, Status

PRECEDENCE: tuple[str, ...] = (
    "NIM-FIT-008",
    "NIM-FIT-002",
    "NIM-FIT-001",
    "NIM-FIT-004",
    "NIM-FIT-003",
    "NIM-FIT-010",
    "NIM-FIT-011",
    "NIM-FIT-007",
    "NIM-FIT-009",
    "NIM-FIT-005",
    "NIM-FIT-006",
)

# The capability fields the rules read; everything else (driver version) does not change a verdict.
_SHAPE = operator.attrgetter(
    "ready",
    "nofile_soft",
    "nofile_unlimited",
    "gpu_product",
    "gpu_count",
    "gpu_memory_bytes",
    "max_nvlink_clique",
    "virtualization",
    "mig_enabled",
    "mig_slices",
    "mig_strategy",
    "compute_capability",
)
# Bounds on the memo: past them it starts over (a cluster has a few shapes; this is a leak guard).
_MAX_REQUIREMENTS = 1024
_MAX_NODES = 65536
# Failures a fix on the node removes without another layout: readiness, open files, NVLink.
REMOVABLE: frozenset[str] = frozenset({"NIM-FIT-008", "NIM-FIT-005", "NIM-FIT-003"})
# Failures no tensor-parallel size changes: MIG, precision, the profile's GPU. The search stops at them.
TP_INDEPENDENT: frozenset[str] = frozenset({"NIM-FIT-009", "NIM-FIT-010", "NIM-FIT-007"})


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """Whether a requirement fits a node, and the reasons in precedence order (warnings included).

    `fits` is None when nothing fails but something could not be judged: unknown, never a fit.
    """

    fits: bool | None
    reasons: tuple[Reason, ...] = ()

    @property
    def first(self) -> Reason | None:
        """The most fundamental reason, a warning included."""
        return self.reasons[0] if self.reasons else None


def first_failure(reasons: Iterable[Reason]) -> Reason | None:
    """The first reason that is not a warning: the one that decides a verdict that is not a fit (a
    warning may come before it in precedence, e.g. NVLink ahead of MIG)."""
    return next((r for r in reasons if r.status is not Status.WARN), None)


def evaluate(capabilities: Capabilities, requirement: Requirement, catalog: Catalog) -> Verdict:
    """Judge one node without the memo (what `fit` does on a miss)."""
    return _evaluate(capabilities, requirement, settings(catalog))


def verdict_of(reasons: tuple[Reason, ...]) -> bool | None:
    """False when a reason fails, None when one could not be evaluated, True otherwise."""
    statuses = {r.status for r in reasons}
    if Status.FAIL in statuses:
        return False
    return None if Status.ERROR in statuses else True


def _evaluate(capabilities: Capabilities, requirement: Requirement, limits: Settings) -> Verdict:
    served = for_node(requirement, capabilities, limits)
    reasons = []
    for check_id in PRECEDENCE:
        found = RULES[check_id](capabilities, served, limits)
        if found is not None:
            reasons.append(found)
    found_reasons = tuple(reasons)
    return Verdict(fits=verdict_of(found_reasons), reasons=found_reasons)


class _Verdicts:
    """Verdicts of one requirement: by capabilities value, and by shape behind that."""

    __slots__ = ("by_caps", "by_shape", "limits", "requirement")

    def __init__(self, requirement: Requirement, limits: Settings) -> None:
        self.requirement = requirement
        self.limits = limits
        self.by_caps: dict[Capabilities, Verdict] = {}
        self.by_shape: dict[tuple[object, ...], Verdict] = {}

    def miss(self, capabilities: Capabilities) -> Verdict:
        shape = _SHAPE(capabilities)
        verdict = self.by_shape.get(shape)
        if verdict is None:
            verdict = _evaluate(capabilities, self.requirement, self.limits)
            self.by_shape[shape] = verdict
        if len(self.by_caps) >= _MAX_NODES:
            self.by_caps.clear()
        self.by_caps[capabilities] = verdict
        return verdict


class _Memo:
    """All memoised verdicts of one catalog; remembers the last requirement (the extender asks in runs)."""

    __slots__ = ("last", "limits", "requirements")

    def __init__(self, catalog: Catalog) -> None:
        # Only the thresholds, never the catalog itself: the memo must not keep its catalog alive.
        self.limits = settings(catalog)
        self.requirements: dict[Requirement, _Verdicts] = {}
        self.last: _Verdicts | None = None

    def verdicts(self, requirement: Requirement) -> _Verdicts:
        last = self.last
        if last is not None and last.requirement is requirement:
            return last
        found = self.requirements.get(requirement)
        if found is None:
            if len(self.requirements) >= _MAX_REQUIREMENTS:
                self.requirements.clear()
            found = self.requirements[requirement] = _Verdicts(requirement, self.limits)
        self.last = found
        return found


_memos = PerCatalog(_Memo)


def fit(capabilities: Capabilities, requirement: Requirement, catalog: Catalog) -> Verdict:
    """Does `requirement` fit the node described by `capabilities`? Pure; memoised per node shape."""
    verdicts = _memos(catalog).verdicts(requirement)
    verdict = verdicts.by_caps.get(capabilities)
    return verdict if verdict is not None else verdicts.miss(capabilities)


def fit_nodes(nodes: Iterable[Capabilities], requirement: Requirement, catalog: Catalog) -> list[Verdict]:
    """`fit` over many nodes for one requirement, in order: the extender's filter over candidate nodes."""
    verdicts = _memos(catalog).verdicts(requirement)
    known = verdicts.by_caps.get
    miss = verdicts.miss
    result: list[Verdict] = []
    append = result.append
    for capabilities in nodes:
        verdict = known(capabilities)
        append(verdict if verdict is not None else miss(capabilities))
    return result


@dataclass(frozen=True)
class ModelRequest:
    """A model by name, as `nimdoctor run --model` and `nimdoctor plan` ask for it.

    `tp` None lets `place` choose; `params_b` declares the size of a model the catalog does not know.
    """

    model: str
    precision: str | None = None
    tp: int | None = None
    pp: int | None = None
    gpus: int | None = None
    profile: str | None = None
    params_b: float | None = None
    max_model_len: int | None = None
    mig: str | None = None
    nim_version: str | None = None

    def requirement(self, catalog: Catalog, tp: int | None) -> Requirement:
        """What the model needs at tensor parallel `tp` (None: its default); `RequirementError` when the
        request contradicts itself or the catalog."""
        return requirement_from_model(
            self.model,
            catalog,
            precision=self.precision,
            tp=tp,
            pp=self.pp,
            gpus=self.gpus,
            profile=self.profile,
            params_b=self.params_b,
            max_model_len=self.max_model_len,
            mig=self.mig,
            version=self.nim_version,
        )


def fit_claimed(
    capabilities: Capabilities, base: Requirement, at: Callable[[int], Requirement], catalog: Catalog
) -> tuple[Requirement, Verdict]:
    """Judge a pod whose GPU count from resource claims depends on the node (`base.claims`): `all` takes
    every GPU the node has; `unknown` gets at most them, so the node fits when some TP up to its GPU count
    fits (`search`), and is rejected only when none can. `at(gpus)` is the pod's requirement with that many
    GPUs on offer; `base` the least it needs (what a node that did not report its GPU count is judged by,
    and what a count the pod's layout cannot use falls back to, failing NIM-FIT-002)."""
    count = capabilities.gpu_count
    if base.claims not in ("all", "unknown") or count is UNSET:
        return base, fit(capabilities, base, catalog)

    def offered(gpus: int) -> Requirement:
        try:
            return at(gpus)
        except RequirementError:  # fewer GPUs than the pod's own TP x PP: the base fails NIM-FIT-002
            return base

    if base.claims == "all":
        requirement = offered(count)
        return requirement, fit(capabilities, requirement, catalog)
    sizes = tensor_parallel_candidates(capabilities, catalog) or [1]
    _, requirement, verdict = search(capabilities, dict.fromkeys(map(offered, sizes)), catalog)
    return requirement, verdict


def tensor_parallel_candidates(capabilities: Capabilities, catalog: Catalog) -> list[int]:
    """TP 1, 2, 4, 8, ... up to the node's GPU count (and NIM-FIT-006's maxTensorParallel)."""
    largest = node_max_tp(capabilities, settings(catalog))
    return [1 << n for n in range(largest.bit_length())]


def _candidates(served: Requirement, capabilities: Capabilities, limits: Settings) -> list[int]:
    """The TPs `place` tries: NVIDIA's shipped ones for this GPU and precision first (TensorRT-LLM), then
    the other powers of two (generic vLLM profiles): `layouts.tp_candidates`."""
    if served.mig_profile is not None:
        return [1]  # MIG devices have no peer-to-peer path: one device per model
    return tp_candidates(served, capabilities, limits)


def _mig_answer(
    capabilities: Capabilities, request: ModelRequest, served: Requirement, catalog: Catalog
) -> Placement | None:
    """A model question on a node whose GPUs are split into several MIG profiles: the smallest MIG device
    that serves the model (vLLM's rule at TP 1), with NIM-FIT-009's caution to request it. None when the
    question fixes its devices, or no device here holds the model (whole GPUs then fail NIM-FIT-009)."""
    if request.mig is not None or request.gpus is not None or request.tp not in (None, 1) or request.profile:
        return None
    if capabilities.mig_enabled is not True or single_strategy_slice(capabilities) is not None:
        return None
    found = smallest_mig_slice(served, capabilities, settings(catalog))
    if found is None:
        return None
    requirement = dataclasses.replace(request, mig=found.profile).requirement(catalog, 1)
    verdict = fit(capabilities, requirement, catalog)
    return Placement(
        model=requirement.model,
        fits=verdict.fits,
        requirement=for_node(requirement, capabilities, settings(catalog)),
        reasons=list(verdict.reasons),
        tried=[1],
    )


def place(capabilities: Capabilities, request: ModelRequest, catalog: Catalog) -> Placement:
    """Where `request` stands on this node: fits or not, at which TP, and why.

    With a TP fixed (by `tp`, `gpus` or the profile) it judges that requirement. Otherwise it tries the TPs
    NVIDIA ships for this node's GPU and precision, smallest first, as TensorRT-LLM engines; when none
    passes (or none is shipped), the other sizes of 1, 2, 4, 8 ... up to the node's GPU count, as generic
    vLLM profiles; it keeps the first that fits (cautions allowed). On GPUs split into several MIG profiles
    a question without devices gets the smallest MIG device that holds the model. When none fits, it
    reports the smallest TP whose only failures a fix on the node removes (readiness, open files, NVLink),
    else the last TP tried. An unknown model, or a node whose GPU memory is unknown, is not searched.
    Raises `RequirementError` for a malformed request.
    """
    limits = settings(catalog)
    base = request.requirement(catalog, request.tp)
    profile = parse_profile(request.profile) if request.profile else None
    fixed = request.tp is not None or request.gpus is not None or (profile is not None and profile.tp)
    served = for_node(base, capabilities, limits)
    if base.params_b is not None and (on_mig := _mig_answer(capabilities, request, served, catalog)):
        return on_mig
    if fixed or base.params_b is None:
        verdict = fit(capabilities, base, catalog)
        reasons = list(verdict.reasons)
        return Placement(model=base.model, fits=verdict.fits, requirement=served, reasons=reasons)
    candidates = (
        base if tp == base.tensor_parallel else request.requirement(catalog, tp)
        for tp in _candidates(served, capabilities, limits)
    )
    tried, requirement, verdict = search(capabilities, candidates, catalog)
    return Placement(
        model=requirement.model,
        fits=verdict.fits,
        requirement=for_node(requirement, capabilities, limits),
        reasons=list(verdict.reasons),
        tried=[r.tensor_parallel for r, _ in tried],
    )


def search(
    capabilities: Capabilities, candidates: Iterable[Requirement], catalog: Catalog
) -> tuple[list[tuple[Requirement, Verdict]], Requirement, Verdict]:
    """Judge `candidates` (one model at growing TP) in order until one fits (or cannot be judged), or fails
    for a reason no TP changes. Returns what was tried and the answer: the first that fits; else the first
    whose only failures a fix on the node removes (readiness, open files, NVLink); else the last tried.
    At least one candidate is given."""
    tried: list[tuple[Requirement, Verdict]] = []
    for requirement in candidates:
        verdict = fit(capabilities, requirement, catalog)
        tried.append((requirement, verdict))
        if verdict.fits is not False or any(
            r.status is Status.FAIL and r.id in TP_INDEPENDENT for r in verdict.reasons
        ):
            break
    requirement, verdict = tried[-1]
    if verdict.fits is False:
        removable = (
            (r, v) for r, v in tried if all(x.status is Status.WARN or x.id in REMOVABLE for x in v.reasons)
        )
        requirement, verdict = next(removable, tried[-1])
    return tried, requirement, verdict
