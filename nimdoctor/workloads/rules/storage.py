"""NIM-WL-001..004 and 014: where the model is stored; whether that volume is ready, shared, large enough."""

from __future__ import annotations

from typing import Any

from nimdoctor.catalog import Check
from nimdoctor.report import Status
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
from nimdoctor.workloads.rules.base import (
    LIVE_ONLY,
    check_with_keys,
    gb,
    judged,
    requirement,
    skip_unless,
    weights_bytes,
    workload_rule,
)
from nimdoctor.workloads.rules.secrets import auth_secret, pull_secrets
from nimdoctor.workloads.rules.shape import (
    cache_name,
    live_pvc,
    pod_count,
    volume_owner,
)


@workload_rule("NIM-WL-001")
def serves_from_nimcache(subject: Subject, world: World, check: Check) -> Judged:
    """A NIMService's storage is a NIMCache, not a bare PVC, emptyDir, hostPath or nothing."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    storage = mapping(subject.spec.get("storage"))
    name = cache_name(subject)
    if name:
        return judged(check, Status.PASS, f"model served from NIMCache {name}")
    field: FieldPath
    if storage.get("pvc") is not None:
        what, field = "a PVC without a NIMCache", ("storage", "pvc")
    elif storage.get("emptyDir") is not None:
        what, field = "an emptyDir", ("storage", "emptyDir")
    elif storage.get("hostPath") is not None:
        what, field = "a hostPath", ("storage", "hostPath")
    else:
        what, field = "not set", ("storage",)
    req, _ = requirement(subject, world)
    size = gib(req.cache_pvc_bytes) if req and req.cache_pvc_bytes else "<size>"
    repository = text(at(subject.spec, "image", "repository")) or "<model puller image>"
    tag = text(str(at(subject.spec, "image", "tag") or ""))
    pulls, _, _ = pull_secrets(subject, world)
    auth, _, _ = auth_secret(subject, world, check_with_keys(world))
    return judged(
        check,
        Status.WARN,
        f"model storage is {what}: the model downloads on every start, behind a startup probe of up to "
        "20 minutes",
        field,
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
    if world.cluster is None:
        return judged(check, Status.SKIP, f"NIMCache {name}: {LIVE_ONLY}", field)
    namespace = subject.ref.namespace or "<namespace>"
    cache = world.cache(subject.ref.namespace, name)
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


@workload_rule("NIM-WL-004")
def cache_size(subject: Subject, world: World, check: Check) -> Judged:
    """The model's own cache volume is at least the weights' size (fail) and the recommended size (warn)."""
    if subject.kind == "NIMService" and cache_name(subject):
        return judged(check, Status.SKIP, f"the cache volume belongs to NIMCache {cache_name(subject)}")
    storage = mapping(subject.spec.get("storage"))
    pvc = mapping(storage.get("pvc"))
    size: int | None
    if pvc:
        field: FieldPath = ("storage", "pvc", "size")
        info = live_pvc(subject, world)
        if info is not None and info.found:
            size, where = info.capacity_bytes or info.requested_bytes, f"PVC {info.name}"
        else:
            size, where = parse_quantity(pvc.get("size")), "storage.pvc.size"
        if size is None and pvc.get("create") is not True:
            return judged(check, Status.SKIP, f"PVC {pvc_name(subject)} exists outside the manifests")
    elif subject.kind == "NIMService" and storage.get("emptyDir") is not None:
        field, where = ("storage", "emptyDir", "sizeLimit"), "emptyDir.sizeLimit"
        size = parse_quantity(at(storage, "emptyDir", "sizeLimit"))
        if size is None:
            return judged(check, Status.SKIP, "emptyDir without sizeLimit: the node's ephemeral storage")
    else:
        return judged(check, Status.SKIP, "no cache volume of its own")
    if size is None:
        return judged(check, Status.WARN, f"{where}: no size that reads as a quantity", field)
    req, error = requirement(subject, world)
    if req is None or req.params_b is None or req.cache_pvc_bytes is None:
        return judged(
            check, Status.SKIP, f"model size unknown: {error or 'declare nimdoctor.io/model-params'}"
        )
    weights = weights_bytes(req) or 0
    evidence = {"sizeBytes": size, "weightsBytes": weights, "recommendedBytes": req.cache_pvc_bytes}
    values: dict[str, Any] = {
        "model": f"{req.model} ({req.params_b:g}B params, {req.precision})",
        "weights": gb(weights),
        "recommended": gb(req.cache_pvc_bytes),
        "recommended_gi": gib(req.cache_pvc_bytes),
    }
    have = f"{where} is {gb(size)}"
    if size < weights:
        return judged(
            check,
            Status.FAIL,
            f"{have}, less than {req.model}'s weights ({gb(weights)}): the download cannot finish",
            field,
            evidence,
            **values,
        )
    if size < req.cache_pvc_bytes:
        message = f"{have}, below the recommended {gb(req.cache_pvc_bytes)} for {req.model}"
        return judged(check, Status.WARN, message, field, evidence, **values)
    return judged(check, Status.PASS, f"{have}; {req.model} needs about {gb(req.cache_pvc_bytes)}", field)


@workload_rule("NIM-WL-014")
def cache_pvc_provisioned(subject: Subject, world: World, check: Check) -> Judged:
    """The subject's own PVC exists or can be provisioned (a StorageClass by name, or a default one)."""
    pvc = mapping(at(subject.spec, "storage", "pvc"))
    if not pvc:
        return judged(check, Status.SKIP, "no PVC of its own")
    field: FieldPath = ("storage", "pvc")
    name = pvc_name(subject)
    if world.cluster is None:
        return judged(check, Status.SKIP, f"PVC {name}: {LIVE_ONLY}", field)
    info = live_pvc(subject, world)
    if info is not None and info.found and info.phase == "Bound":
        return judged(check, Status.PASS, f"PVC {name} is Bound", field)
    if info is not None and info.error:
        return judged(check, Status.SKIP, f"cannot read PVC {name}: {info.error}", field)
    pending = info is not None and info.found
    if not pending and pvc.get("create") is not True:
        message = f"PVC {name} does not exist and storage.pvc.create is not true"
        remedy = f"Create PVC {name} in namespace {subject.ref.namespace}, or set storage.pvc.create: true."
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
                    remedy=f"See why: kubectl describe pvc {name} -n {subject.ref.namespace}",
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
