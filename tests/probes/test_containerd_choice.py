"""Which `containerd` is the node's: cgroup first, then a child of pid 1, then the oldest; impostors and a
pod's own containerd never hide the node's daemon, and ties are reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from msgspec import UNSET

from nimdoctor.catalog import Catalog
from nimdoctor.probes.hostfs import DirFS
from nimdoctor.probes.runtime import probe_runtime
from nimdoctor.report import Facts, RuntimeFacts, Status
from nimdoctor.rules.registry import RULES
from tests.hosts import HostTree, Proc, host_tree, limits_text

NODE = "0::/system.slice/containerd.service\n"
# A kind node or Docker-in-Docker: a containerd.service below a pod's container scope.
KIND = (
    "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7.slice/"
    "cri-containerd-4f1c.scope/system.slice/containerd.service\n"
)
SESSION = "0::/user.slice/user-1000.slice/session-3.scope\n"


def probe(tree: HostTree) -> RuntimeFacts:
    return probe_runtime(DirFS(tree.root))


def chosen(tree: HostTree) -> int:
    facts = probe(tree)
    assert facts.containerd is not UNSET
    return facts.containerd.pid


@pytest.fixture
def tree(tmp_path: Path) -> HostTree:
    return host_tree(tmp_path).add(Proc(pid=1, comm="systemd", ppid=0, start_ticks=1))


def test_a_pods_containerd_never_hides_the_nodes(tree: HostTree, catalog: Catalog) -> None:
    # The pod's daemon is older and has a comfortable limit; the node's has containerd 2.x's 1024.
    tree.add(Proc(pid=300, limits=limits_text(1048576, 1048576), ppid=290, start_ticks=50, cgroup=KIND))
    tree.add(Proc(pid=812, limits=limits_text(1024, 524288), ppid=1, start_ticks=900, cgroup=NODE))
    facts = probe(tree)
    assert chosen(tree) == 812
    assert facts.chosen_by == "unit"
    assert [c.unit for c in facts.candidates] == [None, "containerd.service"]
    rt1 = RULES["NIM-RT-001"].fn(Facts(runtime=facts), catalog.get("NIM-RT-001"))
    assert rt1.status is Status.FAIL  # never the pod's PASS


def test_the_cgroup_seen_from_the_agents_own_namespace(tree: HostTree) -> None:
    tree.add(Proc(pid=300, limits=limits_text(1, 1), start_ticks=50, cgroup=SESSION))
    tree.add(
        Proc(
            pid=812,
            limits=limits_text(1024, 4096),
            start_ticks=900,
            cgroup="0::/../../../system.slice/containerd.service\n",
        )
    )
    assert chosen(tree) == 812


def test_cgroup_v1_uses_the_systemd_hierarchy(tree: HostTree) -> None:
    v1 = "12:memory:/system.slice/containerd.service\n1:name=systemd:/system.slice/containerd.service\n"
    tree.add(Proc(pid=300, limits=limits_text(1, 1), start_ticks=50))
    tree.add(Proc(pid=812, limits=limits_text(1024, 4096), start_ticks=900, cgroup=v1))
    assert chosen(tree) == 812


def test_an_impostor_child_of_init_loses_to_the_unit(tree: HostTree) -> None:
    tree.add(Proc(pid=200, limits=limits_text(65536, 65536), ppid=1, start_ticks=10, cgroup=SESSION))
    tree.add(Proc(pid=812, limits=limits_text(1024, 524288), ppid=1, start_ticks=900, cgroup=NODE))
    assert chosen(tree) == 812


def test_a_service_without_a_unit_file_is_no_better_than_any_process(tree: HostTree) -> None:
    tree.add(
        Proc(
            pid=200,
            limits=limits_text(1, 1),
            ppid=77,
            start_ticks=10,
            cgroup="0::/system.slice/evil.service\n",
        )
    )
    tree.add(Proc(pid=812, limits=limits_text(1024, 524288), ppid=1, start_ticks=900))
    facts = probe(tree)
    assert chosen(tree) == 812
    assert facts.chosen_by == "parent"


def test_another_node_service_with_a_unit_file_counts_and_its_limit_is_read(tree: HostTree) -> None:
    tree.file("/etc/systemd/system/k3s.service", "[Service]\nLimitNOFILE=1048576\n")
    tree.file("/etc/systemd/system/containerd.service", "[Service]\nLimitNOFILE=1024\n")
    tree.add(Proc(pid=200, limits=limits_text(1024, 1024), ppid=1, start_ticks=10))
    tree.add(
        Proc(
            pid=640,
            limits=limits_text(1048576, 1048576),
            ppid=600,
            start_ticks=90,
            cgroup="0::/system.slice/k3s.service\n",
        )
    )
    facts = probe(tree)
    assert chosen(tree) == 640
    assert facts.unit == "k3s.service"
    assert facts.configured_nofile is not UNSET
    assert facts.configured_nofile.soft == 1048576


def test_children_of_init_that_cannot_be_told_apart_are_reported(tree: HostTree, catalog: Catalog) -> None:
    tree.add(Proc(pid=812, limits=limits_text(1024, 4096), ppid=1, start_ticks=900))
    tree.add(Proc(pid=200, limits=limits_text(65536, 65536), ppid=1, start_ticks=100))
    tree.add(Proc(pid=999, limits=limits_text(1, 1), ppid=812, start_ticks=950))
    facts = probe(tree)
    assert chosen(tree) == 200  # the oldest
    assert facts.chosen_by == "parent"
    assert facts.ambiguous == [812]
    rt3 = RULES["NIM-RT-003"].fn(Facts(runtime=facts), catalog.get("NIM-RT-003"))
    assert rt3.evidence["ambiguous"] == [812]
    assert "812 could not be told apart" in rt3.message


@pytest.mark.parametrize("name", ["\u0661\u0662", "0012", "99999999", "-1", "12a", "1e3", " 12"])
def test_proc_entries_that_are_not_pids_are_ignored(tree: HostTree, name: str) -> None:
    (tree.root / "proc" / name).mkdir()
    (tree.root / "proc" / name / "comm").write_text("containerd\n")
    tree.add(Proc(pid=812, limits=limits_text(1024, 4096)))
    facts = probe(tree)
    assert [c.pid for c in facts.candidates] == [812]


@pytest.mark.parametrize(
    "stat",
    [
        "812 (containerd) S \u0661 1",
        "812 (containerd) S 1_0 1 " + "0 " * 17 + "5",
        "812 (containerd) S 99999999999999999999999 " + "0 " * 18,
        "812 (containerd) S",
        "",
    ],
)
def test_odd_stat_files_leave_parent_and_age_unknown(tree: HostTree, stat: str) -> None:
    tree.add(Proc(pid=812, limits=limits_text(1024, 4096), ppid=None))
    (tree.root / "proc/812/stat").write_text(stat)
    (candidate,) = probe(tree).candidates
    assert (candidate.ppid, candidate.start_ticks) == (None, None)


@pytest.mark.parametrize(
    "limits",
    [
        limits_text(65536, 1024),  # soft above hard: the kernel never allows it
        limits_text(10**30, 10**30),
        limits_text("\u0666\u0665\u0665\u0663\u0666", 65536),
        limits_text("+65536", 65536),
    ],
)
def test_limits_the_kernel_never_writes_are_an_error_not_a_pass(
    tree: HostTree, catalog: Catalog, limits: str
) -> None:
    tree.add(Proc(pid=812, limits=limits))
    facts = probe(tree)
    rt1 = RULES["NIM-RT-001"].fn(Facts(runtime=facts), catalog.get("NIM-RT-001"))
    assert rt1.status is Status.ERROR
    assert "unparseable" in rt1.message


def test_a_fifo_as_comm_or_limits_never_blocks(tree: HostTree, catalog: Catalog) -> None:
    tree.add(Proc(pid=700, ppid=None))
    (tree.root / "proc/700/comm").unlink()
    tree.fifo("/proc/700/comm")
    tree.add(Proc(pid=812))
    tree.fifo("/proc/812/limits")
    facts = probe(tree)
    assert [c.pid for c in facts.candidates] == [812]
    rt1 = RULES["NIM-RT-001"].fn(Facts(runtime=facts), catalog.get("NIM-RT-001"))
    assert rt1.status is Status.ERROR
    assert "FIFO" in rt1.message
