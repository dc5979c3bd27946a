"""`nimdoctor capacity --reports --pods`: fleets of simulated machines, counted as the issue asks."""

from __future__ import annotations

from pathlib import Path

from tests.capacity.fleet import (
    LLAMA_8B,
    LLAMA_70B,
    LLAMA_405B,
    by_node,
    capacity,
    machine,
    pod,
    write_pods,
    write_reports,
)


def test_partly_used_nodes_offer_only_their_free_gpus(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100"), "l40s-1": machine("l40s-4x")})
    pods = write_pods(tmp_path / "pods.json", [pod("a", "dgx-1", 3), pod("b", "l40s-1", 1)])
    code, doc = capacity("--model", LLAMA_70B, "--reports", reports, "--pods", pods)
    nodes = by_node(doc)
    # 70B fp8 runs at TP 2 on H100 SXM: 5 free GPUs hold 2; at TP 4 on L40S: 3 free hold none.
    assert (nodes["dgx-1"]["freeGpus"], nodes["dgx-1"]["tensorParallel"], nodes["dgx-1"]["replicas"]) == (
        5,
        2,
        2,
    )
    assert (nodes["l40s-1"]["freeGpus"], nodes["l40s-1"]["replicas"], nodes["l40s-1"]["status"]) == (
        3,
        0,
        "full",
    )
    assert "needs 4 nvidia.com/gpu per pod; 3 of 4 free" in nodes["l40s-1"]["reason"]
    assert (code, doc["replicas"], doc["podsCounted"]) == (0, 2, True)


def test_pods_that_ended_or_are_not_bound_hold_no_gpus(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100")})
    pods = [
        pod("done", "dgx-1", 4, phase="Succeeded"),
        pod("crashed", "dgx-1", 2, phase="Failed"),
        pod("waiting", None, 8, phase="Pending"),
        pod("starting", "dgx-1", 2, phase="Pending"),  # bound: its GPUs are allocated
    ]
    _, doc = capacity(
        "--model", LLAMA_8B, "--reports", reports, "--pods", write_pods(tmp_path / "p.json", pods)
    )
    assert (by_node(doc)["dgx-1"]["freeGpus"], doc["replicas"]) == (6, 6)


def test_without_pods_every_gpu_counts_free_and_the_document_says_so(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100")})
    _, doc = capacity("--model", LLAMA_70B, "--reports", reports)
    assert (doc["replicas"], doc["podsCounted"]) == (4, False)
    assert "every GPU counts as free" in doc["notes"][0]


def test_a_partly_taken_nvlink_clique_holds_no_replica_across_cliques(tmp_path: Path) -> None:
    # GPUs 0-1 and 2-3 are NVLink pairs; one GPU of each pair is in use: 2 GPUs free, in no pair together.
    reports = write_reports(
        tmp_path / "r",
        {
            "split": machine("h100-pcie-nvlink-pairs", in_use=[0, 2]),
            "packed": machine("h100-pcie-nvlink-pairs", in_use=[0, 1]),
            "unsaid": machine("h100-pcie-nvlink-pairs"),  # NVML saw nothing in use: which pair is unknown
        },
    )
    pods = [pod(f"{n}-{i}", n) for n in ("split", "packed", "unsaid") for i in range(2)]
    _, doc = capacity(
        "--model", LLAMA_70B, "--reports", reports, "--pods", write_pods(tmp_path / "p.json", pods)
    )
    nodes = by_node(doc)
    assert (nodes["split"]["replicas"], nodes["split"]["cliqueCheck"], nodes["split"]["status"]) == (
        0,
        "exact",
        "full",
    )
    assert "in one NVLink clique" in nodes["split"]["reason"]
    assert (nodes["packed"]["replicas"], nodes["packed"]["cliqueCheck"]) == (1, "exact")
    assert (nodes["unsaid"]["replicas"], nodes["unsaid"]["cliqueCheck"]) == (1, "assumed")


def test_an_nvswitch_node_needs_no_occupancy_to_place_in_its_clique(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100")})
    pods = write_pods(tmp_path / "p.json", [pod("a", "dgx-1", 1)])
    _, doc = capacity("--model", LLAMA_70B, "--reports", reports, "--pods", pods)
    assert (by_node(doc)["dgx-1"]["replicas"], by_node(doc)["dgx-1"]["cliqueCheck"]) == (3, "exact")


def test_vgpu_nodes_without_nvlink_unlock_with_passthrough(tmp_path: Path) -> None:
    reports = write_reports(
        tmp_path / "r", {"vgpu-l40s": machine("l40s-vgpu-2x"), "vgpu-h100": machine("h100-vgpu-4x")}
    )
    code, doc = capacity("--model", LLAMA_8B, "--tp", "2", "--reports", reports)
    nodes = by_node(doc)
    assert (nodes["vgpu-l40s"]["status"], nodes["vgpu-l40s"]["check"]) == ("blocked", "NIM-FIT-004")
    assert nodes["vgpu-l40s"]["fixes"] == ["NIM-FIT-004"]
    assert nodes["vgpu-h100"]["replicas"] == 2  # NVLink between its vGPUs: TP 2 twice in its clique of 4
    [unlock] = doc["unlock"]
    assert (unlock["check"], unlock["nodes"], unlock["replicas"]) == ("NIM-FIT-004", ["vgpu-l40s"], 1)
    assert "passthrough" in unlock["assumes"]
    assert (code, doc["replicas"]) == (0, 2)


def test_nodes_that_need_a_fix_are_named_with_the_check_and_what_fixing_it_adds(tmp_path: Path) -> None:
    reports = write_reports(
        tmp_path / "r",
        {
            "low-nofile-1": machine("dgx-h100", nofile=1024),
            "low-nofile-2": machine("dgx-h100", nofile=1024),
            "lost-gpu": machine("gpu-lost"),
        },
    )
    code, doc = capacity("--model", LLAMA_70B, "--reports", reports)
    nodes = by_node(doc)
    assert nodes["low-nofile-1"]["check"] == "NIM-FIT-005"
    assert (nodes["lost-gpu"]["check"], nodes["lost-gpu"]["failingChecks"]) == (
        "NIM-FIT-008",
        ["NIM-GPU-003"],
    )
    unlock = {u["check"]: u for u in doc["unlock"]}
    assert unlock["NIM-FIT-005"]["nodes"] == ["low-nofile-1", "low-nofile-2"]
    assert unlock["NIM-FIT-005"]["replicas"] == 8  # TP 2 on 8 H100s, on each node
    assert unlock["NIM-FIT-008"]["replicas"] == 3  # 7 answering GPUs at TP 2
    assert (code, doc["replicas"]) == (1, 0)


def test_a_node_needing_two_fixes_unlocks_nothing_with_one(tmp_path: Path) -> None:
    # Not ready and a low open-file limit: each fix alone still leaves the other failure.
    lost_low = machine("gpu-lost", nofile=1024)
    code, doc = capacity("--model", LLAMA_70B, "--reports", write_reports(tmp_path / "r", {"n": lost_low}))
    assert by_node(doc)["n"]["fixes"] == ["NIM-FIT-008", "NIM-FIT-005"]
    assert (doc["unlock"], code) == ([], 1)


def test_a_multi_node_model_counts_whole_groups_on_different_nodes(tmp_path: Path) -> None:
    nodes = {f"dgx-{i}": machine("dgx-h100") for i in range(3)}
    reports = write_reports(tmp_path / "r", nodes)
    busy = write_pods(tmp_path / "p.json", [pod("a", "dgx-0", 4)])
    args = ("--model", LLAMA_405B, "--tp", "8", "--pp", "2", "--reports", reports)
    _, free = capacity(*args)
    assert (free["replicas"], free["podsPerReplica"]) == (1, 2)  # 3 nodes: one group of 2, one node left
    assert [n["replicas"] for n in free["nodes"]] == [1, 1, 1]
    _, used = capacity(*args, "--pods", busy)
    assert used["replicas"] == 1
    assert by_node(used)["dgx-0"]["replicas"] == 0
    _, four = capacity(
        "--model",
        LLAMA_405B,
        "--tp",
        "8",
        "--pp",
        "2",
        "--reports",
        write_reports(tmp_path / "r", {"dgx-3": machine("dgx-h100")}),
    )
    assert four["replicas"] == 2


def test_mig_requests_count_mig_devices(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"mig-1": machine("a100-mig")})
    pods = write_pods(tmp_path / "p.json", [pod("a", "mig-1", 1, resource="nvidia.com/mig-3g.40gb")])
    _, doc = capacity(
        "--model",
        LLAMA_8B,
        "--mig",
        "3g.40gb",
        "--max-model-len",
        "32768",
        "--reports",
        reports,
        "--pods",
        pods,
    )
    node = by_node(doc)["mig-1"]
    assert (node["resource"], node["gpus"], node["freeGpus"], node["replicas"]) == (
        "nvidia.com/mig-3g.40gb",
        2,
        1,
        1,
    )


def test_a_pod_that_cannot_be_read_costs_its_node_an_unknown(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100"), "dgx-2": machine("dgx-h100")})
    pods = write_pods(tmp_path / "p.json", [pod("bad", "dgx-1", "two"), pod("ok", "dgx-2", 1)])
    code, doc = capacity("--model", LLAMA_70B, "--reports", reports, "--pods", pods)
    nodes = by_node(doc)
    assert nodes["dgx-1"]["status"] == "unknown"
    assert "not a whole number" in nodes["dgx-1"]["reason"]
    assert (nodes["dgx-2"]["replicas"], doc["replicas"], doc["unjudged"], code) == (3, 3, 1, 0)


def test_nothing_fits_and_a_node_unknown_exits_3(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100")})
    pods = write_pods(tmp_path / "p.json", [pod("bad", "dgx-1", "x")])
    code, doc = capacity("--model", LLAMA_70B, "--reports", reports, "--pods", pods)
    assert (code, doc["replicas"], doc["unjudged"]) == (3, 0, 1)
