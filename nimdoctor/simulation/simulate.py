"""Sources for a described machine: the NVML fake, the described (or default) host, the node's labels.

Used only when `--simulate NAME` or `--machine FILE` is given: nimdoctor never simulates on its own, and
while simulating it never reads the real host (an explicit `--host-root` replaces the described host).
"""

from __future__ import annotations

from pathlib import Path

from nimdoctor.diagnose import Sources
from nimdoctor.probes.hostfs import DirFS, HostFS, MemFS
from nimdoctor.simulation.machine import ContainerdSpec, HostSpec, Machine, MachineError, unmeasured
from nimdoctor.simulation.nvml import simulated_nvml

# The VKS image builder replaces containerd's unit with one that sets LimitNOFILE=1048576
# (vmware-tanzu/vsphere-tanzu-kubernetes-grid-image-builder); machines with `host: {preset: vks}` get it.
VKS_HOST = HostSpec(
    containerd=ContainerdSpec(pid=1187, nofile_soft=1048576, nofile_hard=1048576),
    files={
        "/etc/systemd/system/containerd.service": (
            "[Unit]\nDescription=containerd container runtime\nAfter=network.target local-fs.target\n\n"
            "[Service]\nExecStartPre=-/sbin/modprobe overlay\nExecStart=/usr/local/bin/containerd\n"
            "Type=notify\nDelegate=yes\nKillMode=process\nRestart=always\nRestartSec=5\n"
            "LimitNPROC=infinity\nLimitCORE=infinity\nLimitNOFILE=1048576\nTasksMax=infinity\n"
            "OOMScoreAdjust=-999\n\n[Install]\nWantedBy=multi-user.target\n"
        )
    },
)

# The rows of a real /proc/<pid>/limits, with the open-files row filled in per machine.
_LIMITS_ROWS = (
    ("Max cpu time", "unlimited", "unlimited", "seconds"),
    ("Max file size", "unlimited", "unlimited", "bytes"),
    ("Max data size", "unlimited", "unlimited", "bytes"),
    ("Max stack size", "8388608", "unlimited", "bytes"),
    ("Max core file size", "unlimited", "unlimited", "bytes"),
    ("Max resident set", "unlimited", "unlimited", "bytes"),
    ("Max processes", "unlimited", "unlimited", "processes"),
    ("Max open files", "{soft}", "{hard}", "files"),
    ("Max locked memory", "8388608", "8388608", "bytes"),
    ("Max address space", "unlimited", "unlimited", "bytes"),
    ("Max file locks", "unlimited", "unlimited", "locks"),
    ("Max pending signals", "2061283", "2061283", "signals"),
    ("Max msgqueue size", "819200", "819200", "bytes"),
    ("Max nice priority", "0", "0", ""),
    ("Max realtime priority", "0", "0", ""),
    ("Max realtime timeout", "unlimited", "unlimited", "us"),
)


def limits_file(soft: int | None, hard: int | None) -> str:
    """The text of `/proc/<pid>/limits` for a process with these open-file limits (None: unlimited)."""
    values = {
        "soft": "unlimited" if soft is None else str(soft),
        "hard": "unlimited" if hard is None else str(hard),
    }
    rows = [f"{'Limit':<26}{'Soft Limit':<21}{'Hard Limit':<21}{'Units':<10}"]
    for name, soft_v, hard_v, unit in _LIMITS_ROWS:
        rows.append(f"{name:<26}{soft_v.format(**values):<21}{hard_v.format(**values):<21}{unit:<10}")
    return "\n".join(rows) + "\n"


def host_files(host: HostSpec) -> dict[str, str]:
    """The in-memory files of a described host: its containerd process plus the listed files."""
    files = {"/proc/sys/fs/nr_open": f"{host.nr_open}\n", **host.files}
    if host.containerd is not None:
        pid, d = host.containerd.pid, host.containerd
        files[f"/proc/{pid}/comm"] = "containerd\n"
        files[f"/proc/{pid}/limits"] = limits_file(d.nofile_soft, d.nofile_hard)
        files[f"/proc/{pid}/stat"] = (
            f"{pid} (containerd) S 1 {pid} {pid} 0 -1 " + " ".join(["0"] * 14) + " 4200\n"
        )
    files.setdefault("/proc/1/comm", "systemd\n")
    return files


def machine_host(machine: Machine, host_root: Path | None = None) -> HostFS:
    """The host a simulated diagnosis reads: `--host-root` if given, else the described one (VKS's for
    `preset: vks`); a machine that describes no host gets an empty one, which is never probed."""
    if host_root is not None:
        return DirFS(host_root)
    if machine.spec.host is None:
        return MemFS({}, label=f"machine {machine.name}")
    host = VKS_HOST if machine.spec.host.preset == "vks" else machine.spec.host
    if host.root is not None:
        if machine.base_dir is None:
            raise MachineError(
                f"machine {machine.name}: host.root needs a machine file to resolve it against"
            )
        root = (machine.base_dir / host.root).resolve()
        if not root.is_dir():
            raise MachineError(f"machine {machine.name}: host.root {root} is not a directory")
        return DirFS(root)
    return MemFS(host_files(host), label=f"machine {machine.name}")


def machine_sources(machine: Machine, host_root: Path | None = None) -> Sources:
    """Everything a diagnosis of the described machine reads, and what the description does not know (an
    explicit `--host-root` measures the open-file limits)."""
    missing = unmeasured(machine.spec)
    if host_root is not None:
        missing.pop("openFiles", None)
    return Sources(
        host=machine_host(machine, host_root),
        nvml=simulated_nvml(machine),
        node_labels=machine.spec.node_labels,
        simulated=machine.name,
        unmeasured=missing,
    )
