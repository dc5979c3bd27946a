"""Find credentials for the Kubernetes API the way kubectl and in-cluster pods do, or say there are none."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nimdoctor.cluster.limits import TIMEOUT, timed_api_client

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class ClusterConfigError(Exception):
    """Credentials were asked for explicitly but cannot be loaded (a usage or input error)."""


def home_kubeconfig() -> Path:
    """kubectl's default kubeconfig, `~/.kube/config`."""
    return Path.home() / ".kube" / "config"


def kubeconfig_paths(environ: Mapping[str, str] | None = None, *, home: bool = True) -> list[Path]:
    """The kubeconfig files kubectl would read that exist: `KUBECONFIG`'s list, else `~/.kube/config`
    (unless `home` is False).

    A `KUBECONFIG` that names only missing files counts as no kubeconfig at all.
    """
    env = os.environ if environ is None else environ
    listed = env.get("KUBECONFIG")
    if listed:
        return [Path(p) for p in listed.split(os.pathsep) if p and Path(p).is_file()]
    default = home_kubeconfig()
    return [default] if home and default.is_file() else []


def credential_source(kubeconfig: Path | None, *, home: bool = True) -> str | None:
    """Where `load_api_client` takes credentials from, in words (for a start line); None: nowhere."""
    if kubeconfig is not None:
        return f"--kubeconfig {kubeconfig}"
    if in_cluster():
        return "the in-cluster service account"
    paths = kubeconfig_paths(home=home)
    if not paths:
        return None
    return f"KUBECONFIG {os.pathsep.join(map(str, paths))}" if os.environ.get("KUBECONFIG") else str(paths[0])


def in_cluster(environ: Mapping[str, str] | None = None, token: Path = SERVICE_ACCOUNT_TOKEN) -> bool:
    """Whether this process runs in a pod with a service-account token."""
    env = os.environ if environ is None else environ
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and token.is_file()


def load_api_client(
    kubeconfig: Path | None = None,
    context: str | None = None,
    *,
    retries: bool | None = None,
    home: bool = True,
    timeout: tuple[float, float] = TIMEOUT,
) -> Any | None:
    """An official `kubernetes.client.ApiClient`, or None when no credentials exist.

    Order: an explicit `kubeconfig` (an error when unreadable), the in-cluster service account, then the
    kubeconfig kubectl would use (`KUBECONFIG`, else `~/.kube/config` unless `home` is False: a writer
    must not publish to whatever cluster a forgotten file points at). `kubernetes` is imported only here,
    only when called. `retries=False` turns off urllib3's immediate retries, for callers that back off on
    their own. Every request that names no timeout of its own gets `timeout` (connect, read seconds).
    """
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if kubeconfig is not None:
            if not kubeconfig.is_file():
                raise ClusterConfigError(f"--kubeconfig {kubeconfig}: no such file")
            config.load_kube_config(str(kubeconfig), context=context, client_configuration=configuration)
        elif in_cluster():
            config.load_incluster_config(client_configuration=configuration)
        else:
            paths = kubeconfig_paths(home=home)
            if not paths:
                return None
            config.load_kube_config(
                os.pathsep.join(map(str, paths)), context=context, client_configuration=configuration
            )
    except config.ConfigException as exc:
        raise ClusterConfigError(f"cannot load Kubernetes credentials: {exc}") from exc
    if retries is not None:
        configuration.retries = retries
    return timed_api_client(configuration, timeout)


def require_api_client(
    kubeconfig: Path | None, alternatives: str, timeout: tuple[float, float] = TIMEOUT
) -> Any:
    """`load_api_client`, for a command that cannot run without the API: no credentials at all is a
    `ClusterConfigError` ending with `alternatives` (what the user can do instead)."""
    api = load_api_client(kubeconfig, timeout=timeout)
    if api is None:
        raise ClusterConfigError(f"no Kubernetes credentials: {alternatives}")
    return api
