"""Every nimdoctor pod runs locked down (non-root, read-only root, no capabilities, no host namespaces),
and the agent's pod is what the node needs: NVML without taking a GPU, the host's /proc and systemd units
read-only."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import INSTALL, Doc, Workload, entry_points, label, render, workloads

WORKLOADS = [(label(entry), w) for entry in entry_points() for w in workloads(render(entry))]
IDS = [f"{source}:{w.name}" for source, w in WORKLOADS]


def agent() -> Workload:
    (found,) = (w for w in workloads(render(INSTALL)) if "agent" in w.roles())
    return found


def pod_or_container(pod: Doc, container: Doc, key: str) -> object:
    """A container's security setting, falling back to the pod's as Kubernetes does."""
    return container.get("securityContext", {}).get(key, pod.get("securityContext", {}).get(key))


@pytest.mark.parametrize(("source", "workload"), WORKLOADS, ids=IDS)
def test_pods_share_no_host_namespace(source: str, workload: Workload) -> None:
    for key in ("hostPID", "hostNetwork", "hostIPC"):
        assert workload.pod.get(key) in (None, False), key


@pytest.mark.parametrize(("source", "workload"), WORKLOADS, ids=IDS)
def test_containers_run_non_root_read_only_without_capabilities(source: str, workload: Workload) -> None:
    pod = workload.pod
    assert pod.get("securityContext", {}).get("seccompProfile", {}).get("type") == "RuntimeDefault"
    for container in workload.containers():
        name = container["name"]
        assert pod_or_container(pod, container, "runAsNonRoot") is True, name
        assert pod_or_container(pod, container, "runAsUser") not in (0, None), name
        security = container.get("securityContext", {})
        assert security.get("readOnlyRootFilesystem") is True, name
        assert security.get("allowPrivilegeEscalation") is False, name
        assert security.get("privileged") in (None, False), name
        assert security.get("capabilities", {}).get("drop") == ["ALL"], name
        assert not security.get("capabilities", {}).get("add"), name


@pytest.mark.parametrize(("source", "workload"), WORKLOADS, ids=IDS)
def test_containers_set_requests_and_limits(source: str, workload: Workload) -> None:
    for container in workload.containers():
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind, {})), (container["name"], kind)


@pytest.mark.parametrize(("source", "workload"), WORKLOADS, ids=IDS)
def test_nimdoctor_containers_probe_healthz_and_readyz_on_a_port_they_open(
    source: str, workload: Workload
) -> None:
    assert workload.nimdoctor_containers()
    for container in workload.nimdoctor_containers():
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (container["name"], probe)
            assert ports.get(get["port"], get["port"]) in ports.values(), (container["name"], probe)


@pytest.mark.parametrize(("source", "workload"), WORKLOADS, ids=IDS)
def test_host_paths_are_mounted_read_only_and_only_by_the_agent(source: str, workload: Workload) -> None:
    host_volumes = {v["name"] for v in workload.pod.get("volumes", []) if "hostPath" in v}
    for container in workload.containers():
        for mount in container.get("volumeMounts", []):
            if mount["name"] in host_volumes:
                assert mount.get("readOnly") is True, (container["name"], mount)
                assert mount.get("mountPropagation") in (None, "None"), mount
    if "agent" not in workload.roles():
        assert not host_volumes, f"{workload.name} mounts host paths"


def test_agent_runs_on_every_gpu_node_whatever_its_taints() -> None:
    assert agent().doc["kind"] == "DaemonSet"
    pod = agent().pod
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    tolerated = {(t.get("key"), t["operator"], t.get("effect")) for t in pod["tolerations"]}
    assert {(None, "Exists", "NoSchedule"), (None, "Exists", "NoExecute")} <= tolerated


def test_agent_sees_nvml_through_the_nvidia_runtime_without_taking_a_gpu() -> None:
    pod = agent().pod
    assert pod["runtimeClassName"] == "nvidia"
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "utility"
    for kind in ("requests", "limits"):
        assert not [r for r in container["resources"][kind] if r.startswith("nvidia.com/")]


def test_agent_reads_the_host_under_host_and_knows_its_node() -> None:
    pod = agent().pod
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["NIMDOCTOR_HOST_ROOT"]["value"] == "/host"
    assert env["NIMDOCTOR_NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    host = {v["name"]: v["hostPath"] for v in pod["volumes"] if "hostPath" in v}
    mounted = {
        m["mountPath"]: host[m["name"]]["path"] for m in container["volumeMounts"] if m["name"] in host
    }
    assert mounted == {
        "/host/proc": "/proc",
        "/host/etc/systemd": "/etc/systemd",
        "/host/lib/systemd": "/lib/systemd",
        "/host/usr/lib/systemd": "/usr/lib/systemd",
    }
    # /proc and /etc/systemd exist on every systemd host: a missing one fails the pod with an event.
    # Packaged units live in /lib/systemd or /usr/lib/systemd, not always both: neither keeps the agent off.
    types = {h["path"]: h["type"] for h in host.values()}
    assert types == {
        "/proc": "Directory",
        "/etc/systemd": "Directory",
        "/lib/systemd": "DirectoryOrCreate",
        "/usr/lib/systemd": "DirectoryOrCreate",
    }


@pytest.mark.parametrize("role", ["agent", "scheduler"])
def test_agent_and_scheduler_have_a_shipped_priority_that_never_preempts(role: str) -> None:
    docs = render(INSTALL)
    (workload,) = (w for w in workloads(docs) if role in w.roles())
    name = workload.pod["priorityClassName"]
    (priority,) = (d for d in docs if d["kind"] == "PriorityClass" and d["metadata"]["name"] == name)
    assert priority["preemptionPolicy"] == "Never"  # a diagnostic never takes a NIM pod's place
    assert 0 < priority["value"] <= 1_000_000_000  # a user class: no kubelet critical-pod admission
    assert priority.get("globalDefault") is False


def test_agent_serves_metrics_and_probes_on_9402() -> None:
    (container,) = agent().pod["containers"]
    assert container["args"][0] == "agent"
    assert "--listen=0.0.0.0:9402" in container["args"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9402, "protocol": "TCP"}]
