"""Rules on NIM workloads (`NIM-WL-*`): NIMService, NIMCache and NIMPipeline services, and live, the cluster.

A rule is a pure function `(subject, world, check) -> Judged`: a finding plus the field it is about
(relative to the subject's spec), which `nimdoctor lint` turns into a file and line. Offline (`world.cluster`
is None) a rule that needs the cluster says skip; a rule that does not apply to its subject says skip too.
Secrets reach the rules as type and key names only (`SecretInfo`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from msgspec import UNSET

from nimdoctor.catalog import Check
from nimdoctor.report import Requirement, Status
from nimdoctor.rules.registry import finding, register
from nimdoctor.workloads.model import (
    FieldPath,
    Judged,
    NodeInfo,
    PvcInfo,
    SecretInfo,
    Subject,
    World,
    gib,
    operator_version,
    parse_quantity,
    parse_version,
    version_text,
)

WorkloadRule = Callable[[Subject, World, Check], Judged]
WORKLOAD_RULES: dict[str, WorkloadRule] = {}

LIVE_ONLY = "checked against a live cluster only (nimdoctor run --cluster)"
DOCKER_TYPES = {"kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"}
GPU = "nvidia.com/gpu"
# [NVIDIA] The NIMCache job's node selector when spec.nodeSelector is empty (nimcache_types.go).
NVLINK_LABEL = "nimdoctor.io/nvlink-clique"


def workload_rule(check_id: str) -> Callable[[WorkloadRule], WorkloadRule]:
    """Register `fn` as the one rule for `check_id` (in the shared registry and for `evaluate`)."""

    def decorate(fn: WorkloadRule) -> WorkloadRule:
        register(check_id, kind="workload", probes=frozenset())(fn)
        WORKLOAD_RULES[check_id] = fn
        return fn

    return decorate


def judged(
    check: Check,
    status: Status,
    message: str,
    field: FieldPath | None = None,
    evidence: dict[str, Any] | None = None,
    **fix: Any,
) -> Judged:
    """A finding for `check` about `field`, the fix template filled in for fail and warn."""
    return Judged(finding(check, status, message, evidence, **fix), field)


# --- readers that never raise on odd input ----------------------------------------------------------------


def at(value: Any, *path: str | int) -> Any:
    """The value at `path` in nested mappings and lists; None where any step is missing or of another type."""
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and 0 <= key < len(value) else None
        else:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            return None
    return value


def text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def whole(value: Any) -> int | None:
    """An int, or a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def skip_unless(subject: Subject, kind: str, check: Check) -> Judged | None:
    """A skip for a subject of another kind; None when the rule applies."""
    if subject.kind == kind:
        return None
    return judged(check, Status.SKIP, f"applies to {kind}s")


def requirement(subject: Subject, world: World) -> tuple[Requirement | None, str | None]:
    """What the subject's model needs (placement), or why that cannot be derived."""
    from nimdoctor.placement import RequirementError, requirement_from_manifest

    try:
        return requirement_from_manifest(subject.manifest(), world.catalog), None
    except RequirementError as exc:
        return None, str(exc)


def weights_bytes(req: Requirement) -> int | None:
    """The model's weights on disk: parameters x bytes per parameter."""
    return None if req.params_b is None else round(req.params_b * 1e9 * req.bytes_per_param)


def gb(nbytes: float) -> str:
    """Decimal gigabytes, as model and disk sizes are quoted."""
    return f"{nbytes / 1e9:.1f} GB"


def node_selector(spec: Mapping[str, Any]) -> dict[str, str]:
    """`spec.nodeSelector` as strings."""
    return {str(k): str(v) for k, v in mapping(spec.get("nodeSelector")).items() if v is not None}


def matching_nodes(nodes: Sequence[NodeInfo], selector: Mapping[str, str]) -> list[NodeInfo]:
    """Nodes whose labels carry every key/value of `selector`."""
    return [n for n in nodes if all(n.labels.get(k) == v for k, v in selector.items())]


# --- the shape of a service -------------------------------------------------------------------------------


def pod_count(spec: Mapping[str, Any]) -> tuple[int, str]:
    """The most pods a NIMService runs at once, and why (replicas, HPA max, multi-node group)."""
    reasons = []
    group = 1
    if spec.get("multiNode") is not None:
        group = whole(at(spec, "multiNode", "parallelism", "pipeline")) or 1
        reasons.append(f"multiNode: {group} pods per group")
    if at(spec, "scale", "enabled") is True:
        count = whole(at(spec, "scale", "hpa", "maxReplicas")) or 1
        reasons.insert(0, f"HPA maxReplicas {count}")
    else:
        replicas = whole(spec.get("replicas"))
        count = 1 if replicas is None else replicas
        if count > 1:
            reasons.insert(0, f"replicas {count}")
    return count * group, ", ".join(reasons) or "one replica"


def cache_name(subject: Subject) -> str | None:
    """The NIMCache a NIMService references."""
    return text(at(subject.spec, "storage", "nimCache", "name"))


def cache_source(subject: Subject, world: World) -> str | None:
    """`ngc`, `hf` or `dataStore`: the subject's own source (NIMCache) or its cache's (NIMService)."""
    if subject.kind == "NIMService":
        name = cache_name(subject)
        cache = world.cache(subject.ref.namespace, name) if name else None
        if cache is None:
            return None
        subject = cache
    source = mapping(subject.spec.get("source"))
    return next((k for k in ("ngc", "hf", "dataStore") if source.get(k) is not None), None)


def pvc_name(subject: Subject) -> str:
    """The PVC the operator uses for a subject's `storage.pvc`: its name, else `<object>-pvc`."""
    if subject.kind == "NIMCache":
        status_pvc = text(subject.status.get("pvc"))
        if status_pvc:
            return status_pvc
    return text(at(subject.spec, "storage", "pvc", "name")) or f"{subject.ref.name}-pvc"


def live_pvc(subject: Subject, world: World) -> PvcInfo | None:
    """The subject's own PVC as the cluster has it (None offline or when not read)."""
    if world.cluster is None or subject.ref.namespace is None:
        return None
    return world.cluster.pvcs.get((subject.ref.namespace, pvc_name(subject)))


def volume_owner(subject: Subject, world: World) -> tuple[Subject | None, str]:
    """Whose `storage.pvc` holds the model for this subject: itself, or its NIMCache (with a label)."""
    name = cache_name(subject) if subject.kind == "NIMService" else None
    if name is None:
        return subject, f"PVC {pvc_name(subject)}"
    cache = world.cache(subject.ref.namespace, name)
    if cache is None:
        return None, f"NIMCache {name}"
    return cache, f"NIMCache {name}'s PVC {pvc_name(cache)}"


def gpu_count(spec: Mapping[str, Any]) -> tuple[int | None, FieldPath | None]:
    """A hand-set `nvidia.com/gpu` (limits, else requests) and where it is."""
    for part in ("limits", "requests"):
        value = at(spec, "resources", part, GPU)
        if value is not None:
            return whole(value), ("resources", part, GPU)
    return None, None


def profile_gpus(subject: Subject, world: World) -> tuple[int | None, str]:
    """The GPUs per pod the selected profile or parallelism asks for, and where that comes from."""
    from nimdoctor.placement import parse_profile

    spec = subject.spec
    if spec.get("multiNode") is not None:
        tensor = whole(at(spec, "multiNode", "parallelism", "tensor"))
        if tensor:
            return tensor, "spec.multiNode.parallelism.tensor"
    profile = text(at(spec, "storage", "nimCache", "profile"))
    name = cache_name(subject)
    cache = world.cache(subject.ref.namespace, name) if name else None
    if profile:
        for entry in (cache.status.get("profiles") if cache else None) or []:
            config = mapping(at(entry, "config"))
            if at(entry, "name") == profile and whole(config.get("tp")):
                pp = whole(config.get("pp")) or 1
                return (whole(config["tp"]) or 1) * pp, f"NIMCache {name} status.profiles {profile}"
        parsed = parse_profile(profile)
        if parsed is not None and parsed.tp:
            return parsed.tp * (parsed.pp or 1), f"profile {profile}"
    if cache is not None:
        model = next(
            (at(cache.spec, "source", k, "model") for k in ("ngc", "hf", "dataStore")),
            None,
        )
        tp = whole(at(model, "tensorParallelism"))
        if tp:
            return tp, f"NIMCache {name} tensorParallelism"
    return None, ""


def tensor_parallel(subject: Subject, world: World) -> int:
    """Tensor-parallel size per pod: the profile's or parallelism's, else the GPU count, else 1."""
    expected, _ = profile_gpus(subject, world)
    if expected:
        return expected
    count, _ = gpu_count(subject.spec)
    return count or 1


# --- secrets ----------------------------------------------------------------------------------------------


def auth_secret(subject: Subject, world: World, check: Check) -> tuple[str | None, FieldPath, str]:
    """The auth secret's name, its field, and the key it must hold."""
    source = cache_source(subject, world)
    key = str(check.params["hfKey"] if source in ("hf", "dataStore") else check.params["ngcKey"])
    if subject.kind == "NIMService":
        return text(subject.spec.get("authSecret")), ("authSecret",), key
    return (
        text(at(subject.spec, "source", source or "ngc", "authSecret")),
        (
            "source",
            source or "ngc",
            "authSecret",
        ),
        key,
    )


def pull_secrets(subject: Subject, world: World) -> tuple[list[str], FieldPath, str | None]:
    """The image pull secrets' names, their field, and the image they pull."""
    if subject.kind == "NIMService":
        raw = at(subject.spec, "image", "pullSecrets")
        names = [n for n in (raw if isinstance(raw, list) else []) if isinstance(n, str) and n]
        repository = text(at(subject.spec, "image", "repository"))
        return names, ("image", "pullSecrets"), repository
    source = cache_source(subject, world) or "ngc"
    name = text(at(subject.spec, "source", source, "pullSecret"))
    return (
        [name] if name else [],
        ("source", source, "pullSecret"),
        text(at(subject.spec, "source", source, "modelPuller")),
    )


def registry_host(image: str | None) -> str:
    """The registry an image reference pulls from (`docker.io` when it names none)."""
    if not image:
        return "docker.io"
    first = image.split("/", 1)[0]
    has_host = "/" in image and ("." in first or ":" in first or first == "localhost")
    return first.lower() if has_host else "docker.io"


def secret(world: World, namespace: str | None, name: str) -> SecretInfo | None:
    """What the cluster said about a secret (None offline)."""
    if world.cluster is None or namespace is None:
        return None
    return world.cluster.secrets.get((namespace, name))


def secret_problem(info: SecretInfo | None, name: str, namespace: str | None) -> str | None:
    """Why a secret cannot be judged (not read, refused), or None."""
    if info is None:
        return f"secret {name} was not read"
    if info.error:
        return f"cannot read secret {namespace}/{name}: {info.error}"
    return None


def keys_text(info: SecretInfo) -> str:
    """A secret's key names for a message."""
    return ", ".join(info.keys) if info.keys else "none"


# --- the rules --------------------------------------------------------------------------------------------


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


def check_with_keys(world: World) -> Check:
    """NIM-WL-007, whose params name the auth secret's keys (other rules read them too)."""
    return world.catalog.get("NIM-WL-007")


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


@workload_rule("NIM-WL-005")
def replicas_with_autoscaling(subject: Subject, world: World, check: Check) -> Judged:
    """`replicas` is not set together with `scale.enabled` (rejected by the 3.1.0+ CRDs)."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    scaling = at(subject.spec, "scale", "enabled") is True
    if not scaling or subject.spec.get("replicas") is None:
        return judged(check, Status.PASS, "replicas and scale.enabled are not both set")
    since = operator_version(str(check.params["rejectedSince"]))
    operator = version_text(world.operator_version)
    where = ""
    if subject.origin is not None and subject.origin.kind == "NIMPipeline":
        where = f" from service {subject.ref.name} of NIMPipeline {subject.origin.name}"
    if world.operator_version >= since:
        message = (
            f"replicas {subject.spec['replicas']} with scale.enabled: the NIM Operator {operator} API "
            "server rejects this (spec.replicas cannot be set when spec.scale.enabled is true)"
        )
        return judged(check, Status.FAIL, message, ("replicas",), where=where)
    message = (
        f"replicas {subject.spec['replicas']} with scale.enabled: operator {operator} ignores it, "
        f"{version_text(since)} and later reject it"
    )
    return judged(check, Status.WARN, message, ("replicas",), where=where)


@workload_rule("NIM-WL-006")
def deprecated_ingress(subject: Subject, world: World, check: Check) -> Judged:
    """`expose.ingress` is deprecated (3.1.0); enabled beside `expose.router.ingress` it is rejected."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    ingress = at(subject.spec, "expose", "ingress")
    if ingress is None:
        return judged(check, Status.PASS, "expose.ingress not used")
    field: FieldPath = ("expose", "ingress")
    host = text(at(ingress, "spec", "rules", 0, "host"))
    domain = host.split(".", 1)[1] if host and "." in host else "<your domain>"
    if at(ingress, "enabled") is True and at(subject.spec, "expose", "router", "ingress") is not None:
        message = "expose.ingress is enabled together with expose.router.ingress: the API server rejects both"
        return judged(check, Status.FAIL, message, field, domain=domain)
    since = operator_version(str(check.params["deprecatedSince"]))
    if world.operator_version < since:
        return judged(check, Status.PASS, f"expose.ingress is current before operator {version_text(since)}")
    message = f"expose.ingress is deprecated since operator {version_text(since)}; use expose.router"
    return judged(check, Status.WARN, message, field, domain=domain)


@workload_rule("NIM-WL-007")
def auth_secret_key(subject: Subject, world: World, check: Check) -> Judged:
    """The auth secret is named, exists, and holds NGC_API_KEY (HF_TOKEN for Hugging Face sources)."""
    name, field, key = auth_secret(subject, world, check)
    namespace = subject.ref.namespace or "<namespace>"
    values: dict[str, Any] = {"secret": name or "ngc-api-secret", "namespace": namespace, "key": key}
    if name is None:
        message = (
            f"no auth secret: the model download cannot authenticate ({key}); operators before 3.1.3 "
            "reject a NIMService without spec.authSecret"
        )
        where = "spec.authSecret" if subject.kind == "NIMService" else f"spec.{'.'.join(map(str, field))}"
        remedy = f"Create a secret with key {key} and name it in {where}:"
        return judged(check, Status.WARN, message, field[:-1], remedy=remedy, **values)
    if world.cluster is None:
        return judged(check, Status.SKIP, f"secret {name}: {LIVE_ONLY}", field)
    info = secret(world, subject.ref.namespace, name)
    problem = secret_problem(info, name, subject.ref.namespace)
    if problem or info is None:
        return judged(check, Status.SKIP, problem or "", field)
    evidence = {"secret": name, "type": info.type, "keys": list(info.keys)}
    if not info.found:
        remedy = f"Create secret {name} in namespace {namespace}:"
        return judged(check, Status.FAIL, f"secret {name} not found", field, remedy=remedy, **values)
    if key not in info.keys:
        registry = " (it is a registry secret: see NIM-WL-009)" if info.type in DOCKER_TYPES else ""
        message = f"secret {name} has no key {key} (keys: {keys_text(info)}){registry}"
        remedy = f"Add key {key} to secret {name}, or name the secret that holds it. To create one:"
        return judged(check, Status.FAIL, message, field, evidence, remedy=remedy, **values)
    return judged(check, Status.PASS, f"secret {name} holds {key}", field, evidence)


@workload_rule("NIM-WL-008")
def pull_secret(subject: Subject, world: World, check: Check) -> Judged:
    """A pull secret of type kubernetes.io/dockerconfigjson with credentials for the image's registry."""
    names, field, image = pull_secrets(subject, world)
    host = registry_host(image)
    nvcr = str(check.params["registry"])
    namespace = subject.ref.namespace or "<namespace>"
    values: dict[str, Any] = {"secret": names[0] if names else "ngc-secret", "namespace": namespace}
    if not names:
        if host != nvcr:
            return judged(check, Status.SKIP, f"no pull secret; the image comes from {host}")
        message = (
            f"the image comes from {nvcr} but no pull secret is named: pulls fail unless every node "
            f"holds {nvcr} credentials"
        )
        where = "spec.image.pullSecrets" if subject.kind == "NIMService" else "the source's pullSecret"
        remedy = f"Create a docker-registry secret for {nvcr} and list it in {where}:"
        return judged(check, Status.WARN, message, field[:-1], remedy=remedy, **values)
    if world.cluster is None:
        return judged(check, Status.SKIP, f"secret(s) {', '.join(names)}: {LIVE_ONLY}", field)
    infos = [secret(world, subject.ref.namespace, n) for n in names]
    problems: list[tuple[int, str]] = []
    refused: list[str] = []
    oauth_mismatch = False
    for index, (name, info) in enumerate(zip(names, infos, strict=True)):
        problem = secret_problem(info, name, subject.ref.namespace)
        if problem or info is None:
            refused.append(problem or name)
            continue
        if not info.found:
            problems.append((index, f"secret {name} not found"))
        elif info.type not in DOCKER_TYPES:
            problems.append((index, f"secret {name} is {info.type}, not kubernetes.io/dockerconfigjson"))
        elif info.docker is None or info.docker.error:
            reason = info.docker.error if info.docker else "no docker config"
            problems.append((index, f"secret {name}: {reason}"))
        elif host not in info.docker.hosts:
            problems.append((index, f"secret {name} has no credentials for {host}"))
        elif host == nvcr and host not in info.docker.oauth_hosts:
            oauth_mismatch = True
        else:
            return judged(check, Status.PASS, f"secret {name} has {host} credentials", field)
    if oauth_mismatch:
        message = f"the {nvcr} login's username is not {check.params['username']} (NGC's convention)"
        remedy = (
            f"Recreate the secret with username {check.params['username']} and the NGC API key as password:"
        )
        return judged(check, Status.WARN, message, field, remedy=remedy, **values)
    if not problems:
        return judged(check, Status.SKIP, "; ".join(refused), field)
    index, message = problems[0]
    values["secret"] = names[index]
    remedy = f"Create a docker-registry secret with {host} credentials (or name the right one):"
    bad_field = (*field, index) if subject.kind == "NIMService" else field
    return judged(check, Status.FAIL, "; ".join(p for _, p in problems), bad_field, remedy=remedy, **values)


@workload_rule("NIM-WL-009")
def secrets_not_swapped(subject: Subject, world: World, check: Check) -> Judged:
    """The API-key secret and the registry secret are two secrets, each in its own field."""
    keys_check = check_with_keys(world)
    auth, auth_field, key = auth_secret(subject, world, keys_check)
    pulls, _, _ = pull_secrets(subject, world)
    if auth is None or not pulls:
        return judged(check, Status.SKIP, "needs both an auth secret and a pull secret")
    conventional_pull = str(check.params["pullSecretName"])
    conventional_auth = str(check.params["authSecretName"])
    values: dict[str, Any] = {"auth_name": conventional_auth, "pull_name": conventional_pull}
    same = auth in pulls
    if world.cluster is None:
        if same:
            message = (
                f"secret {auth} is both the auth secret and a pull secret: that works only for a "
                f"docker-registry secret that also holds {key}"
            )
            remedy = (
                f"Use two secrets: one with key {key} for authSecret, one docker-registry for the registry."
            )
            return judged(check, Status.WARN, message, auth_field, remedy=remedy, **values)
        if auth == conventional_pull or conventional_auth in pulls:
            message = (
                f"the names look swapped: {auth} as auth secret, {', '.join(pulls)} as pull secret "
                f"(the operator's convention: {conventional_auth} holds {key}, {conventional_pull} is the "
                "registry login)"
            )
            remedy = "Swap the two names:"
            return judged(check, Status.WARN, message, auth_field, remedy=remedy, **values)
        return judged(check, Status.SKIP, f"two different secrets; their contents are {LIVE_ONLY}")
    auth_info = secret(world, subject.ref.namespace, auth)
    pull_infos = [secret(world, subject.ref.namespace, p) for p in pulls]
    for name, info in [(auth, auth_info), *zip(pulls, pull_infos, strict=True)]:
        problem = secret_problem(info, name, subject.ref.namespace)
        if problem:
            return judged(check, Status.SKIP, problem, auth_field)
    assert auth_info is not None
    found_pulls = [i for i in pull_infos if i is not None and i.found]
    auth_is_registry = auth_info.found and auth_info.type in DOCKER_TYPES and key not in auth_info.keys
    key_as_pull = [i.name for i in found_pulls if i.type not in DOCKER_TYPES and key in i.keys]
    evidence = {"authSecret": auth, "pullSecrets": pulls}
    if same:
        works = auth_info.found and auth_info.type in DOCKER_TYPES and key in auth_info.keys
        message = f"secret {auth} serves as both the auth secret and the registry login"
        if works:
            message += f": it is a docker-registry secret with {key}, which works, but rotates both at once"
            return judged(check, Status.PASS, message, auth_field, evidence)
        remedy = f"Use two secrets: one with key {key} for authSecret, one docker-registry for the registry."
        return judged(
            check, Status.FAIL, message + ": it cannot be both", auth_field, evidence, remedy=remedy, **values
        )
    if auth_is_registry and key_as_pull:
        message = (
            f"swapped: auth secret {auth} is a registry login without {key}, and pull secret "
            f"{', '.join(key_as_pull)} holds {key}"
        )
        return judged(
            check, Status.FAIL, message, auth_field, evidence, remedy="Swap the two names:", **values
        )
    if auth_is_registry:
        message = f"auth secret {auth} is a registry login ({auth_info.type}) without {key}"
        remedy = f"Name the secret that holds {key} in authSecret:"
        return judged(check, Status.FAIL, message, auth_field, evidence, remedy=remedy, **values)
    if key_as_pull:
        names = ", ".join(key_as_pull)
        message = f"pull secret {names} holds {key}: it is the API-key secret, not a registry login"
        remedy = "List the docker-registry secret as pull secret instead:"
        return judged(check, Status.FAIL, message, auth_field, evidence, remedy=remedy, **values)
    return judged(
        check, Status.PASS, "auth secret and pull secret are distinct and in their places", auth_field
    )


@workload_rule("NIM-WL-010")
def gpu_count_matches_profile(subject: Subject, world: World, check: Check) -> Judged:
    """A hand-set `nvidia.com/gpu` equals the GPUs the profile or multi-node tensor size needs per pod."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    count, field = gpu_count(subject.spec)
    if field is None:
        return judged(check, Status.SKIP, f"{GPU} is not set by hand: the operator sets it from the profile")
    if count is None:
        return judged(check, Status.FAIL, f"{GPU} is not a whole number", field, expected="?", source="?")
    expected, source = profile_gpus(subject, world)
    if expected is None:
        return judged(
            check, Status.SKIP, "no profile, tensorParallelism or multi-node tensor size to compare"
        )
    if count != expected:
        more = "NIM fails at start" if count < expected else "the extra GPUs sit idle"
        message = f"{GPU}: {count}, but {source} needs {expected} per pod: {more}"
        return judged(
            check,
            Status.FAIL,
            message,
            field,
            {"gpus": count, "expected": expected},
            expected=expected,
            source=source,
        )
    return judged(check, Status.PASS, f"{GPU}: {count} matches {source}", field)


def fresh_nodes(subject: Subject, world: World) -> tuple[list[tuple[str, Any]], str | None]:
    """(node, capabilities) of fresh NodeReports the subject's node selector allows, or why there are none."""
    cluster = world.cluster
    if cluster is None:
        return [], LIVE_ONLY
    if cluster.reports is None:
        return [], f"NodeReports not readable: {cluster.errors.get('nodereports', 'unknown error')}"
    selector = node_selector(subject.spec)
    allowed = None
    if selector and cluster.nodes is not None:
        allowed = {n.name for n in matching_nodes(cluster.nodes, selector)}
    nodes = [
        (name, record.capabilities)
        for name, record in sorted(cluster.reports.items())
        if allowed is None or name in allowed
    ]
    if not nodes:
        stale = f" ({cluster.stale_reports} stale)" if cluster.stale_reports else ""
        return (
            [],
            f"no fresh NodeReport{stale} for the nodes it may run on: is the nimdoctor agent installed?",
        )
    return nodes, None


@workload_rule("NIM-WL-011")
def model_fits_a_node(subject: Subject, world: World, check: Check) -> Judged:
    """Placement over the cluster's NodeReports finds at least one node the model fits."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    nodes, why = fresh_nodes(subject, world)
    if why:
        return judged(check, Status.SKIP, why)
    from nimdoctor.placement import first_failure, fit_nodes

    req, error = requirement(subject, world)
    if req is None:
        return judged(check, Status.ERROR, f"cannot derive what the model needs: {error}")
    verdicts = fit_nodes([caps for _, caps in nodes], req, world.catalog)
    fitting = [name for (name, _), v in zip(nodes, verdicts, strict=True) if v.fits is True]
    if fitting:
        return judged(check, Status.PASS, f"fits {len(fitting)} of {len(nodes)} node(s), e.g. {fitting[0]}")
    unknown = [name for (name, _), v in zip(nodes, verdicts, strict=True) if v.fits is None]
    # No verdict here is a fit, so each has a failure (or an error) deciding it.
    deciding = [r for r in map(first_failure, (v.reasons for v in verdicts)) if r is not None]
    counts: dict[str, int] = {}
    for reason in deciding:
        counts[reason.short] = counts.get(reason.short, 0) + 1
    summary = "; ".join(f"{n} node(s): {short}" for short, n in sorted(counts.items(), key=lambda i: -i[1]))
    evidence = {"nodes": len(nodes), "unknown": unknown, "reasons": counts}
    if unknown:
        return judged(
            check,
            Status.WARN,
            f"fits no node for sure; {len(unknown)} could not be judged",
            None,
            evidence,
            detail=summary,
            model=req.model,
        )
    errors = all(r.status is Status.ERROR for r in deciding)
    detail = f"{summary}\nOn such a node: {deciding[0].fix}" if deciding else summary
    return judged(
        check,
        Status.ERROR if errors else Status.FAIL,
        f"{req.model} fits none of {len(nodes)} node(s): {summary}",
        None,
        evidence,
        detail=detail,
        model=req.model,
    )


@workload_rule("NIM-WL-012")
def dra_cluster_version(subject: Subject, world: World, check: Check) -> Judged:
    """`draResources` only on a Kubernetes the operator runs DRA on (1.34 for 3.1, 1.33 for 3.0)."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    if not subject.spec.get("draResources"):
        return judged(check, Status.SKIP, "no draResources")
    table = sorted(
        (operator_version(str(op)), parse_version(str(k8s)) or (0,))
        for op, k8s in mapping(check.params["minKubernetes"]).items()
    )
    eligible = [k8s for op, k8s in table if op <= world.operator_version]
    field: FieldPath = ("draResources",)
    operator = version_text(world.operator_version)
    if not eligible:
        return judged(
            check,
            Status.FAIL,
            f"operator {operator} has no draResources",
            field,
            have="?",
            need="3.0.0",
            operator=operator,
        )
    need = eligible[-1]
    if world.cluster is None:
        return judged(check, Status.SKIP, f"needs Kubernetes {version_text(need)}: {LIVE_ONLY}", field)
    have = world.cluster.version
    if have is None:
        return judged(check, Status.SKIP, "the cluster's version is unknown", field)
    values: dict[str, Any] = {"have": version_text(have), "need": version_text(need), "operator": operator}
    if have < need:
        message = f"draResources need Kubernetes {version_text(need)}; the cluster runs {version_text(have)}"
        return judged(check, Status.FAIL, message, field, **values)
    return judged(check, Status.PASS, f"Kubernetes {version_text(have)} supports draResources", field)


def cache_selector(subject: Subject, check13: Check) -> tuple[dict[str, str], bool]:
    """The NIMCache job's node selector and whether it is the operator's default."""
    selector = node_selector(subject.spec)
    if selector:
        return selector, False
    return {str(check13.params["nfdLabel"]): "true"}, True


@workload_rule("NIM-WL-013")
def cache_selector_matches(subject: Subject, world: World, check: Check) -> Judged:
    """Some node matches the NIMCache job's node selector (by default NFD's pci-10de.present)."""
    if (skip := skip_unless(subject, "NIMCache", check)) is not None:
        return skip
    selector, default = cache_selector(subject, check)
    field = None if default else ("nodeSelector",)
    shown = ", ".join(f"{k}={v}" for k, v in selector.items())
    if world.cluster is None:
        return judged(check, Status.SKIP, f"node selector {shown}: {LIVE_ONLY}", field)
    nodes = world.cluster.nodes
    if nodes is None:
        return judged(
            check, Status.SKIP, f"nodes not readable: {world.cluster.errors.get('nodes', '')}", field
        )
    matching = matching_nodes(nodes, selector)
    if matching:
        return judged(check, Status.PASS, f"{len(matching)} node(s) match {shown}", field)
    if default:
        message = (
            f"no node has {shown}, the cache job's default node selector: Node Feature Discovery is missing"
        )
        remedy = (
            "Install Node Feature Discovery (the GPU Operator deploys it unless nfd.enabled=false), or give "
            "the NIMCache a spec.nodeSelector your GPU nodes match, e.g.\n\n  spec:\n    nodeSelector:\n"
            '      nvidia.com/gpu.present: "true"\n\nA NIMCache\'s spec is immutable: create a new one.'
        )
    else:
        message = f"no node matches spec.nodeSelector {shown}: the cache job stays Pending"
        remedy = "Fix spec.nodeSelector to labels your GPU nodes carry (kubectl get nodes --show-labels)."
    return judged(check, Status.FAIL, message, field, {"selector": selector}, remedy=remedy)


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


@workload_rule("NIM-WL-015")
def multi_llm_in_production(subject: Subject, world: World, check: Check) -> Judged:
    """The Multi-LLM NIM container is not the production server of a single model."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    repository = text(at(subject.spec, "image", "repository")) or ""
    images = [str(i) for i in check.params["multiLlmImages"]]
    if not any(repository == i or repository.startswith(i + ":") for i in images):
        return judged(check, Status.SKIP, "not the Multi-LLM NIM container")
    pods, why = pod_count(subject.spec)
    scaling = at(subject.spec, "scale", "enabled") is True
    if pods <= 1 and not scaling:
        return judged(check, Status.PASS, "Multi-LLM NIM with one replica (development use)")
    req, _ = requirement(subject, world)
    model = req.model if req is not None else cache_name(subject) or "the model"
    message = f"the Multi-LLM NIM serves {model} with {why}: production traffic wants a model-specific NIM"
    return judged(check, Status.WARN, message, ("image", "repository"), model=model)


def node_clique(name: str, caps: Any, world: World) -> int | None:
    """A node's largest NVLink clique: its NodeReport's, else the agent's node label."""
    if caps is not None and caps.max_nvlink_clique is not UNSET:
        return int(caps.max_nvlink_clique)
    nodes = world.cluster.nodes if world.cluster is not None else None
    for node in nodes or ():
        if node.name == name:
            return whole(node.labels.get(NVLINK_LABEL))
    return None


@workload_rule("NIM-WL-016")
def shared_memory_without_nvlink(subject: Subject, world: World, check: Check) -> Judged:
    """TP > 1 where no node has an NVLink clique that large needs sharedMemorySizeLimit >= 16Gi."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    tp = tensor_parallel(subject, world)
    if tp <= 1:
        return judged(check, Status.SKIP, "one GPU per pod")
    minimum = str(check.params["minSharedMemory"])
    limit = at(subject.spec, "storage", "sharedMemorySizeLimit")
    shm = parse_quantity(limit)
    if shm is not None and shm >= (parse_quantity(minimum) or 0):
        return judged(check, Status.PASS, f"sharedMemorySizeLimit {limit} for TP {tp}")
    field: FieldPath = ("storage", "sharedMemorySizeLimit") if limit is not None else ("storage",)
    have = f"sharedMemorySizeLimit {limit}" if limit is not None else "no sharedMemorySizeLimit"
    nodes, why = fresh_nodes(subject, world)
    if why:
        return judged(check, Status.SKIP, f"TP {tp} with {have}; NVLink: {why}", field)
    cliques = {name: node_clique(name, caps, world) for name, caps in nodes}
    known = {name: c for name, c in cliques.items() if c is not None}
    if not known:
        return judged(check, Status.SKIP, "no node reported its NVLink cliques", field)
    linked = [name for name, c in known.items() if c >= tp]
    if linked:
        return judged(check, Status.PASS, f"{len(linked)} node(s) have an NVLink clique of {tp} GPUs", field)
    largest = max(known.values())
    detail = f"Tensor parallel {tp} and no node has an NVLink clique of {tp} GPUs (largest: {largest})."
    message = f"TP {tp} without NVLink and {have}: NCCL falls back to /dev/shm, which needs {minimum}"
    return judged(check, Status.FAIL, message, field, {"cliques": known}, detail=detail, shm=minimum, tp=tp)


@workload_rule("NIM-WL-017")
def cache_job_open_files(subject: Subject, world: World, check: Check) -> Judged:
    """A ~49B+ model's cache job can land only on nodes whose containerd soft open-file limit is enough."""
    if (skip := skip_unless(subject, "NIMCache", check)) is not None:
        return skip
    req, error = requirement(subject, world)
    if req is None or req.params_b is None:
        return judged(check, Status.SKIP, f"model size unknown{': ' + error if error else ''}")
    if req.min_nofile is None:
        return judged(check, Status.SKIP, f"{req.model} ({req.params_b:g}B) is below the large-model size")
    label = str(check.params["nofileOkLabel"])
    selector, default = cache_selector(subject, world.catalog.get("NIM-WL-013"))
    field = None if default else ("nodeSelector",)
    if selector.get(label) == "true":
        return judged(check, Status.PASS, f"the node selector keeps the job on {label}=true nodes", field)
    if world.cluster is None:
        return judged(
            check, Status.SKIP, f"{req.model} needs {req.min_nofile} open files: {LIVE_ONLY}", field
        )
    nodes = world.cluster.nodes
    if nodes is None:
        return judged(
            check, Status.SKIP, f"nodes not readable: {world.cluster.errors.get('nodes', '')}", field
        )
    reports = world.cluster.reports or {}
    low: list[str] = []
    unknown: list[str] = []
    for node in matching_nodes(nodes, selector):
        record = reports.get(node.name)
        soft = record.capabilities.nofile_soft if record is not None else UNSET
        if soft is UNSET:
            flag = node.labels.get(label)
            if flag == "false":
                low.append(node.name)
            elif flag != "true":
                unknown.append(node.name)
        elif soft is not None and soft < req.min_nofile:
            low.append(node.name)
    evidence = {"lowNodes": low, "unknownNodes": unknown, "required": req.min_nofile}
    if low:
        extra = "".join(f'\n    {k}: "{v}"' for k, v in selector.items() if k != label and not default)
        message = (
            f"{req.model} ({req.params_b:g}B) caches on nodes {', '.join(low[:5])}"
            f"{' and more' if len(low) > 5 else ''} whose containerd soft open-file limit is below "
            f"{req.min_nofile}: the download dies with 'Too many open files'"
        )
        return judged(
            check,
            Status.FAIL,
            message,
            field,
            evidence,
            nodes=len(low),
            required=req.min_nofile,
            label=label,
            extra_selector=extra,
        )
    if unknown:
        return judged(
            check, Status.SKIP, f"{len(unknown)} node(s) report no open-file limit", field, evidence
        )
    return judged(
        check, Status.PASS, f"every node the job can land on allows {req.min_nofile} open files", field
    )


@workload_rule("NIM-WL-018")
def uses_nim_scheduler(subject: Subject, world: World, check: Check) -> Judged:
    """Where nimdoctor's scheduler is installed, GPU NIMServices name it in spec.schedulerName."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    if world.cluster is None:
        return judged(check, Status.SKIP, LIVE_ONLY)
    if world.cluster.scheduler_installed is not True:
        return judged(check, Status.SKIP, "nimdoctor's scheduler is not installed")
    count, _ = gpu_count(subject.spec)
    expected, _ = profile_gpus(subject, world)
    if not count and not expected and not subject.spec.get("draResources"):
        return judged(check, Status.SKIP, "not a GPU service")
    scheduler = str(check.params["schedulerName"])
    current = text(subject.spec.get("schedulerName"))
    if current == scheduler:
        return judged(check, Status.PASS, f"uses {scheduler}", ("schedulerName",))
    message = f"uses {'scheduler ' + current if current else 'the default scheduler'}, not {scheduler}"
    return judged(check, Status.WARN, message, ("schedulerName",) if current else None, scheduler=scheduler)
