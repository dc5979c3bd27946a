"""NIM-WL-001..004 and 014: where the model is stored; whether that volume is ready, shared, large enough."""

from __future__ import annotations

from typing import Any

import msgspec

from nimdoctor.catalog import Check
from nimdoctor.placement.assemble import GENERIC_CACHE_GB_PER_B
from nimdoctor.placement.precision import BYTES_PER_PARAM
from nimdoctor.report import Requirement, Status
from nimdoctor.sanitize import clean_line
from nimdoctor.workloads.model import (
    FieldPath,
    Judged,
    Subject,
    World,
    gib,
    parse_quantity,
    pvc_name,
)
from nimdoctor.workloads.readers import at, mapping, text
from nimdoctor.workloads.rules.admission import operator_check_at
from nimdoctor.workloads.rules.base import (
    check_with_keys,
    invalid_name,
    judged,
    requirement,
    skip_unless,
    weights_bytes,
    workload_rule,
)
from nimdoctor.workloads.rules.names import LIVE_ONLY, absent, defined_at, shell
from nimdoctor.workloads.rules.secrets import auth_secret, pull_secrets
from nimdoctor.workloads.rules.shape import (
    cache_name,
    live_pvc,
    pod_count,
    volume_owner,
)

# [NVIDIA] The operator's startup probe (v2.0.2 on) waits up to 20 minutes for a model downloading at start.
STARTUP = "behind a startup probe of up to 20 minutes"


@workload_rule("NIM-WL-001")
def serves_from_nimcache(subject: Subject, world: World, check: Check) -> Judged:
    """A NIMService's storage is a NIMCache; what each other kind of storage costs at start, said as it is."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    storage = mapping(subject.spec.get("storage"))
    name = cache_name(subject)
    if name:
        return judged(check, Status.PASS, f"model served from NIMCache {name}")
    field: FieldPath
    advice = False
    if storage.get("pvc") is not None:
        # A PVC keeps the model across restarts: only its first start (and each new PVC) downloads.
        field, advice = ("storage", "pvc"), True
        message = (
            f"model storage is a PVC without a NIMCache: the first start downloads the model ({STARTUP}), "
            "and so does every new PVC (a new service or namespace); restarts reuse it. A NIMCache "
            "downloads once, before the service starts, and can be shared"
        )
    elif storage.get("emptyDir") is not None:
        field = ("storage", "emptyDir")
        message = f"model storage is an emptyDir: every pod start downloads the model again ({STARTUP})"
    elif storage.get("hostPath") is not None:
        field = ("storage", "hostPath")
        message = (
            "model storage is a hostPath: the model downloads on every node the pod starts on "
            f"({STARTUP}), and nothing manages the copies"
        )
    else:
        field = ("storage",)
        message = f"no model storage: every pod start downloads the model again ({STARTUP})"
    if (owner := operator_check_at(subject, world, field)) is not None:
        # No storage is rejected by the webhook (3.0.0 on); a storage kind the CRDs do not know (emptyDir
        # before 3.0) is dropped: one finding, the operator's, at its severity.
        return judged(
            check, Status.SKIP, f"{owner} reports spec.{'.'.join(field)} as the operator does", field
        )
    req, _ = requirement(subject, world)
    floor = cache_floor(subject, req) if req is not None else None
    size = gib(floor.recommended) if floor is not None else "<size>"
    repository = text(at(subject.spec, "image", "repository")) or "<model puller image>"
    tag = text(str(at(subject.spec, "image", "tag") or ""))
    pulls, _, _ = pull_secrets(subject, world)
    auth, _, _ = auth_secret(subject, world, check_with_keys(world))
    return judged(
        check,
        Status.WARN,
        message,
        field,
        advice=advice,
        cache=subject.ref.name,
        namespace=subject.ref.namespace or "<namespace>",
        image=f"{repository}:{tag}" if tag else repository,
        pull_secret=pulls[0] if pulls else "ngc-secret",
        auth_secret=auth or "ngc-api-secret",
        size=size,
    )


@workload_rule("NIM-WL-002")
def nimcache_ready(subject: Subject, world: World, check: Check) -> Judged:
    """The referenced NIMCache exists and is Ready (live only: a manifest has no status)."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    name = cache_name(subject)
    if name is None:
        return judged(check, Status.SKIP, "no NIMCache referenced (see NIM-WL-001)")
    field: FieldPath = ("storage", "nimCache", "name")
    if (bad := invalid_name(check, name, "NIMCache", field)) is not None:
        return bad
    namespace = subject.ref.namespace or "<namespace>"
    cache = world.cache(subject.ref.namespace, name)
    if world.cluster is None:
        if cache is None:
            return judged(check, Status.SKIP, absent(world, "NIMCache", subject.ref.namespace, name), field)
        where = defined_at(world, cache)
        return judged(
            check,
            Status.PASS,
            f"NIMCache {name} is in this input ({where}); its readiness shows once applied",
            field,
        )
    values: dict[str, Any] = {"cache": name, "namespace": namespace}
    if cache is None:
        remedy = (
            f"Create NIMCache {name} in namespace {namespace} (or fix spec.storage.nimCache.name), "
            "wait for it to be Ready, then the operator starts the service."
        )
        return judged(
            check, Status.FAIL, f"NIMCache {name} not found in {namespace}", field, remedy=remedy, **values
        )
    state = text(cache.status.get("state")) or "no status yet"
    evidence = {"state": state}
    if state == "Ready":
        return judged(check, Status.PASS, f"NIMCache {name} is Ready", field, evidence)
    if state == "Failed":
        remedy = (
            "The cache job failed: read its conditions and the job's log, fix the cause (secret, storage, "
            "open files), then recreate the NIMCache (its spec is immutable)."
        )
        return judged(check, Status.FAIL, f"NIMCache {name} Failed", field, evidence, remedy=remedy, **values)
    remedy = "The service waits until the cache is Ready; if it stays in this state, see why:"
    return judged(
        check,
        Status.WARN,
        f"NIMCache {name} is {state}, not Ready: the service waits",
        field,
        evidence,
        remedy=remedy,
        **values,
    )


@workload_rule("NIM-WL-003")
def cache_access_mode(subject: Subject, world: World, check: Check) -> Judged:
    """More than one pod of a service mounts the cache only from a ReadWriteMany volume."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    pods, why = pod_count(subject.spec)
    if pods <= 1:
        return judged(check, Status.PASS, f"the service runs one pod ({why})")
    owner, label = volume_owner(subject, world)
    storage = mapping(subject.spec.get("storage"))
    field: FieldPath = ("storage", "nimCache", "name") if cache_name(subject) else ("storage", "pvc")
    if owner is None:
        return judged(check, Status.SKIP, f"{label} is not among the objects read", field)
    pvc = mapping(at(owner.spec, "storage", "pvc"))
    if not pvc:
        kind = "emptyDir" if storage.get("emptyDir") is not None else "no shared volume"
        return judged(check, Status.PASS, f"each pod has its own model storage ({kind})")
    info = live_pvc(owner, world)
    if info is not None and info.found:
        modes = set(info.access_modes)
    else:
        mode = text(pvc.get("volumeAccessMode"))
        modes = {mode} if mode else set()
        if not mode and pvc.get("create") is not True:
            return judged(check, Status.SKIP, f"{label} exists outside the manifests: {LIVE_ONLY}", field)
    evidence = {"pods": pods, "accessModes": sorted(modes), "volume": label}
    read_only = at(subject.spec, "storage", "readOnly") is True
    if "ReadWriteMany" in modes or ("ReadOnlyMany" in modes and read_only):
        return judged(check, Status.PASS, f"{label} is {'/'.join(sorted(modes))} for {pods} pods", field)
    mode_text = "/".join(sorted(modes)) or "without an access mode"
    return judged(
        check,
        Status.FAIL,
        f"{pods} pods ({why}) mount {label}, which is {mode_text}: pods on other nodes cannot attach it",
        field,
        evidence,
        pods=pods,
        why_pods=why,
        volume=label,
        mode=mode_text,
    )


class Floor(msgspec.Struct, frozen=True):
    """How much a model's cache needs: `weights` (below it the download cannot finish) and `recommended`."""

    weights: int
    recommended: int
    profiles: str  # how many profiles, and how that is known


def profiles_cached(owner: Subject, req: Requirement) -> tuple[int | None, str]:
    """How many profiles a cache volume holds (None: `all` of a model whose profiles are unknown), and why."""
    if owner.kind != "NIMCache":
        return 1, "the profile the service runs"
    listed = owner.status.get("profiles")
    if isinstance(listed, list) and listed:
        return len(listed), f"{len(listed)} profiles in status.profiles"
    wanted = at(owner.spec, "source", "ngc", "model", "profiles")  # only NGC sources select profiles
    if not isinstance(wanted, list) or not wanted:
        return 1, "the profile(s) the operator selects (at least one)"
    if "all" in wanted:
        shipped = sum(len(row.tp) for row in req.shipped)
        if not shipped:
            return None, "profiles: [all] (how many profiles the model has is unknown)"
        return shipped, f"profiles: [all]: {shipped} optimized profiles NVIDIA ships for {req.model}"
    return len(wanted), f"{len(wanted)} profiles listed"


def cache_floor(owner: Subject, req: Requirement) -> Floor | None:
    """The cache a model needs: each cached profile's weights, and at least NVIDIA's 4 GB per billion
    parameters ("vLLM runtime and a model take up about 4X the billions of parameters in GB", NIM LLM
    1.1.0 support matrix). An optimized profile on disk is about its weights: Llama 3 8B FP8 8.5 GB, FP16
    16 GB (NIM LLM 24.05 support matrix)."""
    one = weights_bytes(req)
    if one is None or req.params_b is None:
        return None
    count, how = profiles_cached(owner, req)
    if count is not None and "[all]" in how:
        weights = sum(
            round(req.params_b * 1e9 * BYTES_PER_PARAM.get(row.precision, req.bytes_per_param)) * len(row.tp)
            for row in req.shipped
        )
    else:
        weights = one * (count or 1)
    return Floor(
        weights=weights,
        recommended=max(weights, round(GENERIC_CACHE_GB_PER_B * req.params_b * 1e9)),
        profiles=how,
    )


def gib_text(nbytes: int) -> str:
    """Bytes as whole GiB, rounded up: the unit a PVC size is written in."""
    return f"{-(-nbytes // 2**30)} GiB"


@workload_rule("NIM-WL-004")
def cache_size(subject: Subject, world: World, check: Check) -> Judged:
    """The model's own cache volume holds the cached profiles' weights (fail) and NVIDIA's 4x rule (warn)."""
    if subject.kind == "NIMService" and cache_name(subject):
        return judged(check, Status.SKIP, f"the cache volume belongs to NIMCache {cache_name(subject)}")
    storage = mapping(subject.spec.get("storage"))
    pvc = mapping(storage.get("pvc"))
    size: int | None
    if pvc:
        field: FieldPath = ("storage", "pvc", "size")
        info = live_pvc(subject, world)
        if info is not None and info.found and (info.capacity_bytes or info.requested_bytes):
            size = info.capacity_bytes or info.requested_bytes
            have = f"PVC {info.name} ({gib_text(size or 0)})"
        else:
            raw = pvc.get("size")
            size, have = parse_quantity(raw), f"storage.pvc.size {clean_line(str(raw))}"
        if size is None and pvc.get("create") is not True:
            return judged(check, Status.SKIP, f"PVC {pvc_name(subject)} exists outside the manifests")
    elif subject.kind == "NIMService" and storage.get("emptyDir") is not None:
        field = ("storage", "emptyDir", "sizeLimit")
        raw = at(storage, "emptyDir", "sizeLimit")
        size, have = parse_quantity(raw), f"emptyDir.sizeLimit {clean_line(str(raw))}"
        if size is None:
            return judged(check, Status.SKIP, "emptyDir without sizeLimit: the node's ephemeral storage")
    else:
        return judged(check, Status.SKIP, "no cache volume of its own")
    if size is None:
        return judged(check, Status.WARN, f"{have}: not a quantity (like 50Gi)", field)
    req, error = requirement(subject, world)
    floor = cache_floor(subject, req) if req is not None else None
    if req is None or floor is None:
        return judged(
            check, Status.SKIP, f"model size unknown: {error or 'declare nimdoctor.io/model-params'}"
        )
    evidence = {"sizeBytes": size, "weightsBytes": floor.weights, "recommendedBytes": floor.recommended}
    values: dict[str, Any] = {
        "model": f"{req.model} ({req.params_b:g}B params, {req.precision}; {floor.profiles})",
        "weights": gib_text(floor.weights),
        "recommended": gib_text(floor.recommended),
        "recommended_gi": gib(floor.recommended),
    }
    if size < floor.weights:
        message = (
            f"{have} is less than {req.model}'s weights ({gib_text(floor.weights)}, {floor.profiles}): "
            "the download cannot finish"
        )
        return judged(check, Status.FAIL, message, field, evidence, **values)
    if size < floor.recommended:
        message = f"{have} is below the {gib_text(floor.recommended)} recommended for {req.model}"
        return judged(check, Status.WARN, message, field, evidence, **values)
    return judged(
        check, Status.PASS, f"{have}; {req.model} needs about {gib_text(floor.recommended)}", field, evidence
    )


@workload_rule("NIM-WL-014")
def cache_pvc_provisioned(subject: Subject, world: World, check: Check) -> Judged:
    """The subject's own PVC exists or can be provisioned (a StorageClass by name, or a default one)."""
    pvc = mapping(at(subject.spec, "storage", "pvc"))
    if not pvc:
        return judged(check, Status.SKIP, "no PVC of its own")
    field: FieldPath = ("storage", "pvc")
    name = pvc_name(subject)
    if (bad := invalid_name(check, name, "PersistentVolumeClaim", (*field, "name"))) is not None:
        return bad
    if world.cluster is None:
        if pvc.get("create") is True:
            return judged(
                check, Status.SKIP, f"the operator creates PVC {name}; its StorageClass: {LIVE_ONLY}"
            )
        if live_pvc(subject, world) is None:
            return judged(
                check, Status.SKIP, absent(world, "PersistentVolumeClaim", subject.ref.namespace, name), field
            )
        where = (
            world.inputs.places[("PersistentVolumeClaim", subject.ref.namespace, name)][0]
            if world.inputs
            else ""
        )
        return judged(
            check,
            Status.PASS,
            f"PVC {name} is in this input ({where}); whether it binds shows once applied",
            field,
        )
    info = live_pvc(subject, world)
    if info is not None and info.found and info.phase == "Bound":
        return judged(check, Status.PASS, f"PVC {name} is Bound", field)
    if info is not None and info.error:
        return judged(check, Status.SKIP, f"cannot read PVC {name}: {info.error}", field)
    pending = info is not None and info.found
    if not pending and pvc.get("create") is not True:
        message = f"PVC {name} does not exist and storage.pvc.create is not true"
        namespace = shell(subject.ref.namespace or "<namespace>")
        remedy = f"Create PVC {name} in namespace {namespace}, or set storage.pvc.create: true."
        return judged(check, Status.FAIL, message, field, remedy=remedy)
    classes = world.cluster.storage_classes
    if classes is None:
        reason = world.cluster.errors.get("storageclasses", "unknown error")
        return judged(check, Status.SKIP, f"StorageClasses not readable: {reason}", field)
    wanted = (info.storage_class if pending and info is not None else None) or text(pvc.get("storageClass"))
    state = f"PVC {name} is {info.phase or 'not Bound'}" if pending and info is not None else f"PVC {name}"
    names = sorted(c.name for c in classes)
    if wanted:
        if wanted in names:
            if pending:
                return judged(
                    check,
                    Status.WARN,
                    f"{state} with StorageClass {wanted}",
                    field,
                    remedy=f"See why: kubectl describe pvc {name} -n {shell(subject.ref.namespace or '')}",
                )
            return judged(check, Status.PASS, f"StorageClass {wanted} exists", field)
        message = f"{state} names StorageClass {wanted}, which does not exist"
        remedy = (
            f"Use an existing StorageClass ({', '.join(names) or 'none exist'}) in storage.pvc.storageClass."
        )
        return judged(check, Status.FAIL, message, (*field, "storageClass"), remedy=remedy)
    defaults = [c.name for c in classes if c.default]
    if defaults:
        return judged(check, Status.PASS, f"{state} gets the default StorageClass {defaults[0]}", field)
    message = f"{state} names no StorageClass and the cluster has no default one: it stays Pending"
    existing = ", ".join(names) or "none exist: install a provisioner"
    patch = '{"metadata": {"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}'
    remedy = (
        f"Name a StorageClass in storage.pvc.storageClass ({existing}), or mark one as default:\n\n"
        f"  kubectl patch storageclass <name> -p '{patch}'"
    )
    return judged(check, Status.FAIL, message, field, {"storageClasses": names}, remedy=remedy)
