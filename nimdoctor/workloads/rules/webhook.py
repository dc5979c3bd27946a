"""The NIM Operator's validating-webhook rules, ported: what its admission webhook rejects or warns about.

Ported from github.com/NVIDIA/k8s-nim-operator `main` @ f63f74d7 (Apache-2.0), files
`internal/webhook/apps/v1alpha1/{nimservice,nimcache}_webhook_validation_helper.go`; each violation names the
Go function it comes from and keeps the operator's wording. The webhook sees an object after the API server
filled in the CRD's defaults, so callers pass the defaulted spec (`schema.validate.defaulted`). Left out:
rules the CRD's CEL rules already enforce (reported by NIM-OP-003 instead), rules that compare with the old
object (an update), and what needs the cluster (its Kubernetes version: NIM-WL-012; KServe's default mode).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nimdoctor.workloads.model import FieldPath

SERVICE_HELPER = "internal/webhook/apps/v1alpha1/nimservice_webhook_validation_helper.go"
CACHE_HELPER = "internal/webhook/apps/v1alpha1/nimcache_webhook_validation_helper.go"
# [NVIDIA] the webhook arrived in 3.0.0; authSecret turned from required to a warning after v3.1.2 (PR #910).
WEBHOOK_SINCE = (3, 0, 0)
AUTH_OPTIONAL_SINCE = (3, 1, 3)
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
QOS_PROFILES = ("latency", "throughput")
KSERVE_MODE = "serving.kserve.io/deploymentMode"
KNATIVE_MODES = ("knative", "serverless")
PROFILE_EXCLUDES = ("precision", "engine", "tensorParallelism", "qosProfile", "gpus", "lora", "buildable")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_NO_PROXY = [
    re.compile(r"^\.?[a-zA-Z0-9.-]+$"),
    re.compile(r"^(\d{1,3}\.){3}\d{1,3}(:\d+)?$"),
    re.compile(r"^\[[0-9a-fA-F:]+\](?::\d+)?$"),
    re.compile(r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$"),
    re.compile(r"^\[[0-9a-fA-F:]+\]/\d{1,3}$"),
]
_HTTP = re.compile(r"^https?://")


@dataclass(frozen=True)
class Violation:
    """One webhook error (or warning), about the field at `path` (relative to the spec)."""

    path: FieldPath
    message: str
    source: str  # `file function` in the operator repository
    warning: bool = False


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _set(value: Any) -> bool:
    """A Go pointer or slice that is not nil: present and not null."""
    return value is not None


def nimservice(spec: Mapping[str, Any], version: tuple[int, int, int]) -> list[Violation]:
    """The NIMService webhook's verdicts on a (defaulted) spec, for operator `version`."""
    out: list[Violation] = []
    _image(spec, out)
    _auth_secret(spec, version, out)
    _service_storage(spec, out)
    _router(spec, out)
    _metrics_and_scale(spec, out)
    _dra(spec, out)
    _kserve(spec, out)
    return out


def _image(spec: Mapping[str, Any], out: list[Violation]) -> None:
    image = _map(spec.get("image"))
    for name in ("repository", "tag"):
        if not _text(image.get(name)):
            out.append(
                Violation(("image", name), "is required", f"{SERVICE_HELPER} validateImageConfiguration")
            )


def _auth_secret(spec: Mapping[str, Any], version: tuple[int, int, int], out: list[Violation]) -> None:
    if _text(spec.get("authSecret")):
        return
    source = f"{SERVICE_HELPER} validateAuthSecret"
    if version < AUTH_OPTIONAL_SINCE:
        out.append(Violation(("authSecret",), "is required", source))
    else:
        message = (
            "spec.authSecret is empty: NGC_API_KEY will not be injected. Omit this only for air-gapped "
            "deployments with a pre-populated local model cache"
        )
        out.append(Violation(("authSecret",), message, source, warning=True))


def _pvc_defined(pvc: Mapping[str, Any]) -> bool:
    texts = ("name", "storageClass", "size", "volumeAccessMode", "subPath")
    return _set(pvc.get("create")) or any(_text(pvc.get(k)) for k in texts) or bool(pvc.get("annotations"))


def _service_storage(spec: Mapping[str, Any], out: list[Violation]) -> None:
    source = f"{SERVICE_HELPER} validateServiceStorageConfiguration"
    storage = _map(spec.get("storage"))
    limit = storage.get("sharedMemorySizeLimit")
    sign = _quantity_sign(limit)
    if sign is not None and sign <= 0:
        out.append(Violation(("storage", "sharedMemorySizeLimit"), "must be > 0", source))
    cache = _map(storage.get("nimCache"))
    pvc = _map(storage.get("pvc"))
    defined = [
        name
        for name, present in (
            ("nimCache", any(_text(v) for v in cache.values())),
            ("pvc", _pvc_defined(pvc)),
            ("emptyDir", _set(storage.get("emptyDir"))),
            ("hostPath", bool(_text(storage.get("hostPath")))),
        )
        if present
    ]
    choices = "spec.storage.nimCache, spec.storage.pvc, spec.storage.emptyDir or spec.storage.hostPath"
    if not defined:
        out.append(Violation(("storage",), f"one of {choices}, must be defined", source))
    elif len(defined) > 1:
        several = (
            f"multiple storage sources defined ({', '.join(defined)}): only one of {choices} must be defined"
        )
        out.append(Violation(("storage",), several, source))
    if _text(cache.get("profile")) and not _text(cache.get("name")):
        out.append(
            Violation(
                ("storage", "nimCache", "name"), "is required when spec.storage.nimCache is defined", source
            )
        )
    if _pvc_defined(pvc):
        out.extend(pvc_rules(pvc, ("storage", "pvc"), "spec.storage.pvc"))


def _quantity_sign(value: Any) -> int | None:
    """-1, 0 or 1 for a quantity (`0.5Gi` is positive); None when absent or unreadable (the schema says)."""
    match = re.match(r"^([+-]?)([0-9]*\.?[0-9]+)", str(value).strip()) if value is not None else None
    if not match:
        return None
    return 0 if float(match.group(2)) == 0 else (-1 if match.group(1) == "-" else 1)


def pvc_rules(pvc: Mapping[str, Any], where: FieldPath, written: str) -> list[Violation]:
    """validatePVCConfiguration: a name unless the operator creates the PVC; a known access mode."""
    source = f"{CACHE_HELPER} validatePVCConfiguration"
    out = []
    if pvc.get("create") is not True and not _text(pvc.get("name")):
        out.append(Violation((*where, "name"), f"must be provided when {written}.create is false", source))
    mode = _text(pvc.get("volumeAccessMode"))
    if mode and mode not in ACCESS_MODES:
        out.append(Violation((*where, "volumeAccessMode"), f"unrecognized volumeAccessMode {mode!r}", source))
    return out


def _router(spec: Mapping[str, Any], out: list[Violation]) -> None:
    expose = _map(spec.get("expose"))
    router = _map(expose.get("router"))
    service = _map(expose.get("service"))
    routed = _set(router.get("ingress")) or _set(router.get("gateway"))
    if routed and not _text(router.get("hostDomainName")):
        source = f"{SERVICE_HELPER} validateRouterConfiguration"
        out.append(Violation(("expose", "router", "hostDomainName"), "is required", source))
    gateway = _map(router.get("gateway"))
    if gateway.get("grpcRoutesEnabled") is True and service.get("grpcPort") is None:
        message = "must be set when .spec.expose.router.gateway.grpcRoutesEnabled is true"
        out.append(
            Violation(
                ("expose", "service", "grpcPort"),
                message,
                f"{SERVICE_HELPER} validateExposeRouterConfiguration",
            )
        )
    if service.get("type") == "LoadBalancer" and routed:
        message = (
            "spec.expose.service.type is set to LoadBalancer, but spec.expose.router.gateway or "
            "spec.expose.router.ingress is also set. This creates two entry points for the service."
        )
        out.append(
            Violation(
                ("expose", "service", "type"),
                message,
                f"{SERVICE_HELPER} validateExposeRouterConfiguration",
                warning=True,
            )
        )


def _metrics_and_scale(spec: Mapping[str, Any], out: list[Violation]) -> None:
    metrics = _map(spec.get("metrics"))
    if metrics.get("enabled") is True and not _map(metrics.get("serviceMonitor")):
        message = "must be defined if spec.metrics.enabled is true"
        out.append(
            Violation(
                ("metrics", "serviceMonitor"), message, f"{SERVICE_HELPER} validateMetricsConfiguration"
            )
        )
    scale = _map(spec.get("scale"))
    if scale.get("enabled") is True and not _map(scale.get("hpa")):
        message = "must be defined if spec.scale.enabled is true"
        out.append(Violation(("scale", "hpa"), message, f"{SERVICE_HELPER} validateScaleConfiguration"))
    resources = _map(spec.get("resources"))
    if _set(resources.get("claims")):
        source = f"{SERVICE_HELPER} validateResourcesConfiguration"
        out.append(Violation(("resources", "claims"), "must be empty (use spec.draResources)", source))


def _dra(spec: Mapping[str, Any], out: list[Violation]) -> None:
    source = f"{SERVICE_HELPER} validateDRAResourcesConfiguration"
    entries = spec.get("draResources")
    seen: set[str] = set()
    replicas = spec.get("replicas")
    scaled = _map(spec.get("scale")).get("enabled") is True
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        dra = _map(entry)
        where: FieldPath = ("draResources", index)
        claim = _text(dra.get("resourceClaimName"))
        if claim:
            if isinstance(replicas, int) and replicas > 1:
                message = "must not be set when spec.replicas > 1, use resourceClaimTemplateName instead"
                out.append(Violation((*where, "resourceClaimName"), message, source))
            if scaled:
                message = (
                    "must not be set when spec.scale.enabled is true, use resourceClaimTemplateName instead"
                )
                out.append(Violation((*where, "resourceClaimName"), message, source))
            if claim in seen:
                out.append(Violation((*where, "resourceClaimName"), f"duplicate value {claim!r}", source))
            seen.add(claim)
        if _set(dra.get("claimCreationSpec")):
            out.extend(_claim_creation(_map(dra.get("claimCreationSpec")), (*where, "claimCreationSpec")))


def _claim_creation(creation: Mapping[str, Any], where: FieldPath) -> list[Violation]:
    source = f"{SERVICE_HELPER} validateDRAClaimCreationSpec"
    devices = creation.get("devices")
    if not isinstance(devices, list) or not devices:
        return [Violation((*where, "devices"), "must be non-empty", source)]
    out = []
    for index, raw in enumerate(devices):
        device = _map(raw)
        at: FieldPath = (*where, "devices", index)
        device_source = f"{SERVICE_HELPER} validateDRADeviceSpec"
        for name in ("name", "deviceClassName", "driverName"):
            if not _text(device.get(name)):
                out.append(Violation((*at, name), "is required", device_source))
        count = device.get("count")
        if isinstance(count, int) and count <= 0:
            out.append(Violation((*at, "count"), "must be > 0", device_source))
        out.extend(_selectors(device, at))
    return out


def _selectors(device: Mapping[str, Any], at: FieldPath) -> list[Violation]:
    out = []
    driver = _text(device.get("driverName"))
    seen: set[str] = set()
    for family in ("attributeSelectors", "capacitySelectors"):
        selectors = device.get(family)
        for index, raw in enumerate(selectors if isinstance(selectors, list) else []):
            selector = _map(raw)
            where: FieldPath = (*at, family, index)
            key = _text(selector.get("key"))
            qualified = key if "/" in key else f"{driver}/{key}"
            if qualified in seen:
                out.append(
                    Violation(
                        where, f"duplicate key {qualified!r}", f"{SERVICE_HELPER} validateDRADeviceSpec"
                    )
                )
            seen.add(qualified)
            if family == "attributeSelectors":
                out.extend(_attribute_value(_map(selector.get("value")), (*where, "value")))
            elif selector.get("value") is None:
                source = f"{SERVICE_HELPER} validateDRAResourceQuantitySelectorValue"
                out.append(Violation((*where, "value"), "is required", source))
    return out


def _attribute_value(value: Mapping[str, Any], where: FieldPath) -> list[Violation]:
    source = f"{SERVICE_HELPER} validateDRADeviceAttributeSelectorValue"
    kinds = [k for k in ("boolValue", "intValue", "stringValue", "versionValue") if _set(value.get(k))]
    out = []
    if len(kinds) != 1:
        message = "must specify exactly one of boolValue, intValue, stringValue, or versionValue"
        out.append(Violation(where, message + (f" (has {', '.join(kinds)})" if kinds else ""), source))
    version = value.get("versionValue")
    if version is not None and not _SEMVER.match(str(version)):
        out.append(
            Violation((*where, "versionValue"), f"{version!r} must be a valid semantic version", source)
        )
    return out


def _kserve(spec: Mapping[str, Any], out: list[Violation]) -> None:
    if spec.get("inferencePlatform") != "kserve":
        return
    source = f"{SERVICE_HELPER} validateKServeConfiguration"
    if _set(spec.get("multiNode")):
        out.append(Violation(("multiNode",), "cannot be set when the inferencePlatform is KServe", source))
    # The mode comes from this annotation, else from KServe's ConfigMap in the cluster (not read here).
    mode = _text(_map(spec.get("annotations")).get(KSERVE_MODE)).lower()
    if mode not in KNATIVE_MODES:
        return
    expose = _map(spec.get("expose"))
    router = _map(expose.get("router"))
    forbidden: list[tuple[FieldPath, bool]] = [
        (("scale", "enabled"), _map(spec.get("scale")).get("enabled") is True),
        (("expose", "ingress", "enabled"), _map(expose.get("ingress")).get("enabled") is True),
        (("expose", "router", "ingress"), _set(router.get("ingress"))),
        (("expose", "router", "gateway"), _set(router.get("gateway"))),
        (("metrics", "enabled"), _map(spec.get("metrics")).get("enabled") is True),
    ]
    for path, present in forbidden:
        if present:
            out.append(Violation(path, "cannot be set when KServe runs in knative mode", source))


def nimcache(spec: Mapping[str, Any]) -> list[Violation]:
    """The NIMCache webhook's verdicts on a (defaulted) spec."""
    out: list[Violation] = []
    ngc = spec.get("source", {}).get("ngc") if isinstance(spec.get("source"), Mapping) else None
    if isinstance(ngc, Mapping):
        source = f"{CACHE_HELPER} validateNGCSource"
        for name in ("authSecret", "modelPuller"):
            if not _text(ngc.get(name)):
                out.append(Violation(("source", "ngc", name), "must be non-empty", source))
        if isinstance(ngc.get("model"), Mapping):
            out.extend(_model(ngc["model"], ("source", "ngc", "model")))
    pvc = _map(_map(spec.get("storage")).get("pvc"))
    if not pvc:
        out.append(
            Violation(
                ("storage", "pvc"),
                "must not be empty",
                f"{CACHE_HELPER} validateNIMCacheStorageConfiguration",
            )
        )
    else:
        out.extend(pvc_rules(pvc, ("storage", "pvc"), "spec.storage.pvc"))
    out.extend(_proxy(_map(spec.get("proxy"))))
    return out


def _model(model: Mapping[str, Any], where: FieldPath) -> list[Violation]:
    source = f"{CACHE_HELPER} validateModel"
    out = []
    profiles = model.get("profiles")
    if isinstance(profiles, list) and profiles:
        if "all" in profiles and len(profiles) != 1:
            out.append(
                Violation(
                    (*where, "profiles"), "must only have a single entry when it contains 'all'", source
                )
            )
        for name in PROFILE_EXCLUDES:
            value = model.get(name)
            if value not in (None, "", []):
                out.append(
                    Violation(
                        (*where, name),
                        f"must be empty if {'.'.join(map(str, where))}.profiles is provided",
                        source,
                    )
                )
    qos = model.get("qosProfile")
    if qos not in (None, "") and qos not in QOS_PROFILES:
        out.append(
            Violation((*where, "qosProfile"), f"{qos!r} is not supported: use latency or throughput", source)
        )
    return out


def _proxy(proxy: Mapping[str, Any]) -> list[Violation]:
    source = f"{CACHE_HELPER} validateProxyConfiguration"
    out = []
    for index, token in enumerate(_text(proxy.get("noProxy")).split(",")):
        token = token.strip()
        if token and not any(p.match(token) for p in _NO_PROXY):
            out.append(Violation(("proxy", "noProxy"), f"invalid token {token!r} (entry {index})", source))
    for name in ("httpsProxy", "httpProxy"):
        value = _text(proxy.get(name))
        if value and not _HTTP.match(value):
            out.append(Violation(("proxy", name), "must start with http:// or https://", source))
    return out
