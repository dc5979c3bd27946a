"""What the agent wants on its Node: the NIMNotReady condition, its labels and annotation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from nimdoctor.cluster import node as meta
from nimdoctor.report import Finding, Severity, Status
from tests.cluster.reports import NOW, report_of

MIN_NOFILE = 65536


def test_a_healthy_node_has_the_condition_false() -> None:
    condition = meta.desired_condition(report_of("dgx-h100"))
    assert (condition.status, condition.reason) == ("False", "NIMChecksPass")


def test_a_lost_gpu_sets_the_condition_with_the_check_as_reason() -> None:
    condition = meta.desired_condition(report_of("gpu-lost"))
    assert condition.status == "True"
    assert condition.reason == "NimGpu003Failed"
    assert condition.message.startswith("NIM-GPU-003 fail: ")


def test_no_driver_names_the_first_critical_check_and_only_blocking_ones() -> None:
    condition = meta.desired_condition(report_of("no-driver"))  # the other critical checks are skipped
    assert condition.reason == "NimGpu001Failed"
    assert condition.message == "NIM-GPU-001 fail: NVML: LibraryNotFound: NVML Shared Library Not Found"


def test_further_blocking_checks_are_listed_after_the_first() -> None:
    report = report_of("dgx-h100")
    blocked = [
        msgspec.structs.replace(f, status=Status.ERROR) if f.id in ("NIM-GPU-005", "NIM-GPU-008") else f
        for f in report.findings
    ]
    condition = meta.desired_condition(msgspec.structs.replace(report, findings=blocked))
    assert condition.reason == "NimGpu005Unknown"
    assert condition.message.endswith("; also NIM-GPU-008")


@pytest.mark.parametrize(
    ("status", "reason"), [(Status.FAIL, "NimRt001Failed"), (Status.ERROR, "NimRt001Unknown")]
)
def test_reasons_are_camel_case(status: Status, reason: str) -> None:
    finding = Finding(id="NIM-RT-001", status=status, severity=Severity.CRITICAL, title="t", message="m")
    assert meta.reason_for(finding) == reason


def test_a_long_message_is_cut() -> None:
    report = report_of("gpu-lost")
    finding = msgspec.structs.replace(report.findings[2], message="x" * 5000)
    findings = [*report.findings[:2], finding, *report.findings[3:]]
    condition = meta.desired_condition(msgspec.structs.replace(report, findings=findings))
    assert len(condition.message) == meta.MESSAGE_MAX


def test_the_transition_time_moves_only_when_the_status_flips() -> None:
    later = NOW + dt.timedelta(hours=1)
    before = meta.condition_object(meta.Condition("True", "A", "a"), None, NOW)
    same = meta.condition_object(meta.Condition("True", "B", "b"), before, later)
    flipped = meta.condition_object(meta.Condition("False", "C", "c"), same, later)
    assert same["lastTransitionTime"] == before["lastTransitionTime"] == "2026-11-29T12:00:00Z"
    assert same["lastHeartbeatTime"] == "2026-11-29T13:00:00Z"
    assert flipped["lastTransitionTime"] == "2026-11-29T13:00:00Z"


def test_replacing_our_condition_leaves_the_others_alone() -> None:
    ready = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
    npd = {"type": "KernelDeadlock", "status": "False", "reason": "KernelHasNoDeadlock"}
    old = {"type": meta.CONDITION_TYPE, "status": "True"}
    new = {"type": meta.CONDITION_TYPE, "status": "False"}
    assert meta.replace_condition([ready, old, npd], new) == [ready, new, npd]
    assert meta.replace_condition([ready, npd], new) == [ready, npd, new]
    assert meta.replace_condition(None, new) == [new]
    assert meta.find_condition([ready, old]) == old
    assert meta.find_condition("garbage") is None


def test_matching_ignores_times() -> None:
    wanted = meta.Condition("True", "R", "m")
    current: dict[str, Any] = {"status": "True", "reason": "R", "message": "m", "lastHeartbeatTime": "x"}
    assert wanted.matches(current)
    assert not wanted.matches({**current, "message": "other"})
    assert not wanted.matches(None)


@pytest.mark.parametrize(
    ("machine", "unlimited", "labels"),
    [
        ("dgx-h100", False, {"ready": "true", "nvlink-clique": "8", "nofile-ok": "true"}),
        ("dgx-h100-containerd2", False, {"ready": "true", "nvlink-clique": "8", "nofile-ok": "false"}),
        ("l40s-4x", True, {"ready": "true", "nvlink-clique": "1", "nofile-ok": "true"}),
        ("gpu-lost", False, {"ready": "false", "nvlink-clique": "7", "nofile-ok": "true"}),
        ("no-driver", False, {"ready": "false", "nvlink-clique": None, "nofile-ok": "true"}),
    ],
)
def test_labels(machine: str, unlimited: bool, labels: dict[str, str | None]) -> None:
    wanted, annotations = meta.desired_metadata(report_of(machine, unlimited=unlimited), MIN_NOFILE)
    assert wanted == {meta.PREFIX + k: v for k, v in labels.items()}
    assert set(annotations) == {meta.HASH_ANNOTATION}
    assert all(not k.startswith("nvidia.com/") for k in wanted)


def test_the_hash_follows_the_capabilities_only() -> None:
    first = report_of("dgx-h100")
    later = report_of("dgx-h100", now=NOW + dt.timedelta(minutes=5))
    assert meta.capabilities_hash(first.capabilities) == meta.capabilities_hash(later.capabilities)
    assert meta.capabilities_hash(first.capabilities) != meta.capabilities_hash(
        report_of("gpu-lost").capabilities
    )


def test_the_metadata_patch_names_only_what_differs() -> None:
    labels, annotations = meta.desired_metadata(report_of("no-driver"), MIN_NOFILE)
    current = {
        "labels": {
            "kubernetes.io/hostname": "gpu-1",
            meta.READY_LABEL: "false",
            meta.CLIQUE_LABEL: "8",
            meta.NOFILE_LABEL: "true",
        },
        "annotations": dict(annotations),
    }
    assert meta.metadata_patch(labels, annotations, current) == {
        "metadata": {"labels": {meta.CLIQUE_LABEL: None}}
    }
    current["labels"].pop(meta.CLIQUE_LABEL)
    assert meta.metadata_patch(labels, annotations, current) is None
    assert meta.metadata_patch(labels, annotations, {"labels": "junk"}) == {
        "metadata": {
            "labels": {meta.READY_LABEL: "false", meta.NOFILE_LABEL: "true"},
            "annotations": annotations,
        }
    }


def test_our_own_labels_are_not_fed_back_into_the_probe() -> None:
    labels = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", meta.READY_LABEL: "true"}
    assert meta.foreign_labels(labels) == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
