"""NIM-WL-007..009: the auth secret and the image pull secrets.

Secrets reach these rules as type and key names only (`SecretInfo`).
"""

from __future__ import annotations

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
from nimdoctor.workloads.rules.base import (
    LIVE_ONLY,
    check_with_keys,
    judged,
    workload_rule,
)
from nimdoctor.workloads.rules.shape import (
    cache_source,
)


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
