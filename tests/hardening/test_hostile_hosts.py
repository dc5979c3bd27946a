"""`nimdoctor run --host-root` on host trees a broken or hostile node could present.

Each case asserts the exit code, that the command ends (the watchdog in `cli`), that nothing outside the
tree was read (the canary value never shows), and that no check passes where the kernel or systemd would
disagree.
"""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.hardening.conftest import CANARY, RT_ONLY, Cli, Result, run_process
from tests.hosts import HostTree, Proc, limits_text, needs_root

PR_CAPBSET_DROP = 24
NODE = "0::/system.slice/containerd.service\n"
UNIT = "/usr/lib/systemd/system/containerd.service"
DROPIN = "/etc/systemd/system/containerd.service.d/override.conf"


def diagnose(cli: Cli, tree: HostTree) -> tuple[Result, dict[str, Any]]:
    result = cli("run", "--host-root", str(tree.root), *RT_ONLY, "-o", "json")
    assert CANARY not in result.out
    return result, {f["id"]: f for f in json.loads(result.out)["findings"]}


def statuses(findings: dict[str, Any]) -> list[str]:
    return [findings[f"NIM-RT-00{n}"]["status"] for n in (1, 2, 3)]


def test_an_empty_root_is_an_error_that_asks_about_proc(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("run", "--host-root", str(tmp_path / "empty"), *RT_ONLY, "-o", "json")
    assert result.code == 3
    for finding in json.loads(result.out)["findings"]:
        assert finding["status"] == "error"
        assert finding["message"].endswith(f"is the host's /proc mounted at {tmp_path / 'empty' / 'proc'}?")


def test_the_environment_variable_host_root_too(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = run_process("run", *RT_ONLY, env_extra={"NIMDOCTOR_HOST_ROOT": str(tmp_path / "empty")})
    assert done.returncode == 3
    assert "is the host's /proc mounted at" in " ".join(done.stdout.split())


def test_a_proc_without_processes_is_an_error(cli: Cli, tree: HostTree) -> None:
    tree.file("/proc/meminfo", "MemTotal: 1 kB\n")
    result, findings = diagnose(cli, tree)
    assert result.code == 3
    assert statuses(findings) == ["error", "error", "error"]


@pytest.mark.parametrize("target", ["/proc", "/", "../../../..", "../outside"])
def test_proc_linked_elsewhere_stays_in_the_tree(
    cli: Cli, tmp_path: Path, outside: Path, target: str
) -> None:
    # Were the link followed on this machine, the real /proc (or the canary) would show containerds.
    root = tmp_path / "host"
    root.mkdir()
    os.symlink(target, root / "proc")
    result, findings = diagnose(cli, HostTree(root=root))
    assert result.code == 3
    assert statuses(findings) == ["error", "error", "error"]


def test_links_to_files_outside_are_never_followed_out(cli: Cli, tree: HostTree, outside: Path) -> None:
    tree.add(Proc(pid=812, cgroup=NODE))
    tree.symlink("/proc/812/limits", outside / "limits")  # absolute: resolved inside the tree
    tree.symlink(UNIT, "../../../../../outside/containerd.service")
    tree.symlink("/proc/900", "../../outside")  # a process directory that is really the canary's
    result, findings = diagnose(cli, tree)
    assert result.code == 3
    assert findings["NIM-RT-001"]["status"] == "error"
    assert [c["pid"] for c in findings["NIM-RT-003"]["evidence"]["candidates"]] == [812]


def test_a_fifo_anywhere_never_blocks(cli: Cli, tree: HostTree) -> None:
    tree.add(Proc(pid=812, cgroup=NODE)).fifo("/proc/812/limits").fifo("/proc/sys/fs/nr_open").fifo(UNIT)
    tree.add(Proc(pid=813, comm="x")).fifo("/proc/813/cgroup")
    result, findings = diagnose(cli, tree)
    assert result.code == 3
    assert statuses(findings) == ["error", "error", "pass"]
    assert "FIFO" in findings["NIM-RT-001"]["message"]


@needs_root
def test_device_nodes_are_never_read(cli: Cli, tree: HostTree) -> None:
    tree.device("/dev/zero", 1, 5).device("/dev/tty", 5, 0)
    tree.add(Proc(pid=812, cgroup=NODE)).symlink("/proc/812/limits", "/dev/zero").symlink(UNIT, "/dev/tty")
    result, findings = diagnose(cli, tree)
    assert result.code == 3
    assert statuses(findings) == ["error", "error", "pass"]
    assert "character device" in findings["NIM-RT-001"]["message"]


def test_huge_files_stop_at_the_cap(cli: Cli, tree: HostTree) -> None:
    tree.add(Proc(pid=812, cgroup=NODE)).sparse("/proc/812/limits", 1 << 36).sparse(DROPIN, 1 << 36)
    result, findings = diagnose(cli, tree)
    assert result.code == 3
    assert "larger than 4 MiB" in findings["NIM-RT-001"]["message"]
    assert findings["NIM-RT-002"]["status"] == "error"


def test_a_pods_high_limit_never_passes_for_the_node(cli: Cli, tree: HostTree) -> None:
    kind = "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope/system.slice/containerd.service\n"
    tree.add(Proc(pid=300, limits=limits_text(1048576, 1048576), ppid=299, start_ticks=5, cgroup=kind))
    tree.add(Proc(pid=812, limits=limits_text(1024, 524288), ppid=1, start_ticks=900, cgroup=NODE))
    result, findings = diagnose(cli, tree)
    assert result.code == 1
    assert findings["NIM-RT-001"]["status"] == "fail"
    assert findings["NIM-RT-001"]["evidence"]["pid"] == 812


@pytest.mark.parametrize(
    ("dropin", "rt002"),
    [
        ("\ufeff[Service]\nLimitNOFILE=\\\n  1024:524288\n", "pass"),
        ("\ufeff[Service]\r\nLimitNOFILE=65536\r\n", "warn"),
        ("[Service]\nLimitNOFILE=65536 # for NIM\n", "warn"),
        ("[Service]\nLimitNOFILE=0x10000\n", "error"),
    ],
)
def test_bom_continuation_and_comment_dropins(cli: Cli, tree: HostTree, dropin: str, rt002: str) -> None:
    tree.file(UNIT, "[Service]\nLimitNOFILE=1024:524288\n").file(DROPIN, dropin)
    tree.add(Proc(pid=812, limits=limits_text(1024, 524288), cgroup=NODE))
    result, findings = diagnose(cli, tree)
    assert findings["NIM-RT-002"]["status"] == rt002
    assert result.code == (1 if findings["NIM-RT-001"]["status"] == "fail" else 0)


def drop_file_access_override() -> None:
    """In the child: give up root's power to read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as an
    agent without them would run; root reads every file otherwise, whatever its mode."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    for capability in (1, 2):
        if prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@needs_root
def test_an_unreadable_unit_file_makes_rt002_an_error(tree: HostTree) -> None:
    tree.file(UNIT, "[Service]\nLimitNOFILE=65536\n")
    tree.add(Proc(pid=812, limits=limits_text(65536, 65536), cgroup=NODE))
    tree.path(UNIT).chmod(0)
    done = run_process(
        "run", "--host-root", str(tree.root), *RT_ONLY, "-o", "json", preexec_fn=drop_file_access_override
    )
    assert done.returncode == 3, done.stderr
    findings = {f["id"]: f for f in json.loads(done.stdout)["findings"]}
    assert findings["NIM-RT-002"]["status"] == "error"
    assert "Permission denied" in findings["NIM-RT-002"]["message"]
