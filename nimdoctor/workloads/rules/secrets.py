"""NIM-WL-007..009: the auth secret and the image pull secrets.

Secrets reach these rules as type and key names only (`SecretInfo`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimdoctor.catalog import Check
from nimdoctor.report import Status
from nimdoctor.workloads.model import (
    DOCKER_TYPES,
    FieldPath,
    Judged,
    SecretInfo,
    Subject,
    World,
)
from nimdoctor.workloads.readers import at, text
from nimdoctor.workloads.rules.admission import operator_check_at
from nimdoctor.workloads.rules.base import (
    check_with_keys,
    invalid_name,
    judged,
    workload_rule,
)
from nimdoctor.workloads.rules.names import LIVE_ONLY, absent, find_secret, shell
from nimdoctor.workloads.rules.shape import (
    cache_source,
)


def hf_model(subject: Subject, world: World) -> bool:
    """[NVIDIA] `IsHFModel` (nimservice_types.go, nimcache_types.go): env NIM_MODEL_NAME is an `hf://` URI,
    or the cache's source is `hf` or `dataStore`."""
    if cache_source(subject, world) in ("hf", "dataStore"):
        return True
    env = subject.spec.get("env") if subject.kind == "NIMService" else None
    return any(
        isinstance(e, Mapping)
        and e.get("name") == "NIM_MODEL_NAME"
        and str(e.get("value", "")).startswith("hf://")
        for e in (env if isinstance(env, list) else [])
    )


def auth_secret(subject: Subject, world: World, check: Check) -> tuple[str | None, FieldPath, str]:
    """The auth secret's name, its field, and the key the pod (or the cache job's puller) reads.

    [NVIDIA] standalone/nimservice.go: a NIMService pod reads NGC_API_KEY from the secret (secretKeyRef);
    for a Hugging Face model it reads HF_TOKEN, and NGC_API_KEY becomes optional. nimcache_types.go
    `EnvFromSecrets`: the cache job exports the source's secret whole with envFrom; the NGC puller reads
    NGC_API_KEY, the Hugging Face and DataStore pullers HF_TOKEN.
    """
    key = str(check.params["hfKey"] if hf_model(subject, world) else check.params["ngcKey"])
    if subject.kind == "NIMService":
        return text(subject.spec.get("authSecret")), ("authSecret",), key
    source = cache_source(subject, world) or "ngc"
    return text(at(subject.spec, "source", source, "authSecret")), ("source", source, "authSecret"), key


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


@workload_rule("NIM-WL-007")
def auth_secret_key(subject: Subject, world: World, check: Check) -> Judged:
    """The auth secret is named, exists, and holds NGC_API_KEY (HF_TOKEN for Hugging Face sources)."""
    name, field, key = auth_secret(subject, world, check)
    namespace = subject.ref.namespace or "<namespace>"
    values: dict[str, Any] = {"secret": name or "ngc-api-secret", "namespace": namespace, "key": key}
    if name is None and (owner := operator_check_at(subject, world, field)) is not None:
        # The CRD schema (required) or the webhook (required before 3.1.3, a warning after) says it.
        return judged(check, Status.SKIP, f"no auth secret: {owner} reports it as the operator does", field)
    if name is None:
        message = (
            f"no auth secret: the model download cannot authenticate ({key}); operators before 3.1.3 "
            "reject a NIMService without spec.authSecret"
        )
        where = "spec.authSecret" if subject.kind == "NIMService" else f"spec.{'.'.join(map(str, field))}"
        remedy = f"Create a secret with key {key} and name it in {where}:"
        return judged(check, Status.WARN, message, field[:-1], remedy=remedy, **values)
    if (bad := invalid_name(check, name, "Secret", field)) is not None:
        return bad
    info = find_secret(world, subject.ref.namespace, name)
    if info is None and world.cluster is None:
        return judged(check, Status.SKIP, absent(world, "Secret", subject.ref.namespace, name), field)
    problem = secret_problem(info, name, subject.ref.namespace)
    if problem or info is None:
        return judged(check, Status.SKIP, problem or "", field)
    evidence = {"secret": name, "type": info.type, "keys": list(info.keys)}
    if not info.found:
        remedy = f"Create secret {name} in namespace {shell(namespace)}:"
        return judged(check, Status.FAIL, f"secret {name} not found", field, remedy=remedy, **values)
    reader = _reader(subject, world, key)
    if key in info.keys:
        return judged(check, Status.PASS, f"secret {name} holds {key} ({reader})", field, evidence)
    registry = " (it is a registry secret: see NIM-WL-009)" if info.type in DOCKER_TYPES else ""
    message = f"secret {name} has no key {key} (keys: {keys_text(info)}){registry}: {reader}"
    remedy = f"Add key {key} to secret {name}, or name the secret that holds it. To create one:"
    # envFrom exports whatever keys there are; without HF_TOKEN a Hugging Face puller still downloads
    # public models, so only an NGC source (whose puller always authenticates) fails.
    public_ok = subject.kind == "NIMCache" and key != str(check.params["ngcKey"])
    status = Status.WARN if public_ok else Status.FAIL
    return judged(check, status, message, field, evidence, remedy=remedy, **values)


def _reader(subject: Subject, world: World, key: str) -> str:
    """Who reads `key` from the auth secret, as the operator wires it."""
    if subject.kind == "NIMCache":
        source = cache_source(subject, world) or "ngc"
        puller = "the NGC puller" if source == "ngc" else f"the {source} puller"
        return f"the cache job exports every key with envFrom; {puller} reads {key}"
    if hf_model(subject, world):
        return f"a Hugging Face model reads {key}; NGC_API_KEY is optional"
    return f"the NIM container reads {key} through a secretKeyRef"


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
    for index, name in enumerate(names):
        at_field: FieldPath = (*field, index) if subject.kind == "NIMService" else field
        if (bad := invalid_name(check, name, "Secret", at_field)) is not None:
            return bad
    infos = [find_secret(world, subject.ref.namespace, n) for n in names]
    problems: list[tuple[int, str]] = []
    refused: list[str] = []
    oauth_mismatch = False
    for index, (name, info) in enumerate(zip(names, infos, strict=True)):
        if info is None and world.cluster is None:
            refused.append(absent(world, "Secret", subject.ref.namespace, name))
            continue
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


def secret_fields(subject: Subject, world: World, key: str, auth_name: str, pull_name: str) -> str:
    """The two secret fields of this kind of object, as YAML to paste (a NIMCache's are its source's)."""
    auth = f"<the secret with key {key}>"
    pull = "<the docker-registry secret>"
    if subject.kind == "NIMService":
        lines = [
            "spec:",
            f"  authSecret: {auth}       # e.g. {auth_name}",
            "  image:",
            f"    pullSecrets: [{pull}]       # e.g. {pull_name}",
        ]
    else:
        source = cache_source(subject, world) or "ngc"
        lines = [
            "spec:",
            "  source:",
            f"    {source}:",
            f"      authSecret: {auth}       # e.g. {auth_name}",
            f"      pullSecret: {pull}       # e.g. {pull_name}",
        ]
    return "\n".join("  " + line for line in lines)


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
    values: dict[str, Any] = {
        "fields": secret_fields(subject, world, key, conventional_auth, conventional_pull)
    }
    same = auth in pulls
    known = all(find_secret(world, subject.ref.namespace, n) is not None for n in (auth, *pulls))
    if world.cluster is None and not known:
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
    auth_info = find_secret(world, subject.ref.namespace, auth)
    pull_infos = [find_secret(world, subject.ref.namespace, p) for p in pulls]
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
