"""Rules NIM-RT-001..003 on runtime facts."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec import UNSET

from nimdoctor.catalog import Catalog
from nimdoctor.report import (
    ContainerdCandidate,
    ContainerdFacts,
    Facts,
    Finding,
    NofileSetting,
    RuntimeFacts,
    Status,
)
from nimdoctor.rules.registry import RULES


def judge(check_id: str, facts: Facts, catalog: Catalog) -> Finding:
    result: Finding = RULES[check_id].fn(facts, catalog.get(check_id))
    return result


def bound(value: str) -> int | None:
    return None if value == "infinity" else int(value)


def runtime(soft: Any = 1024, hard: Any = 524288, configured: str | None = None, **kw: Any) -> Facts:
    daemon = ContainerdFacts(pid=4242, nofile_soft=soft, nofile_hard=hard, source="/proc/4242/limits")
    setting: Any = UNSET
    if configured is not None:
        s, _, h = configured.partition(":")
        setting = NofileSetting(soft=bound(s), hard=bound(h or s), raw=configured, source="/etc/x.conf")
    return Facts(
        runtime=RuntimeFacts(
            proc_root="/proc",
            containerd=daemon,
            candidates=[ContainerdCandidate(pid=4242, ppid=1, start_ticks=5)],
            configured_nofile=setting,
            unit_files=["/etc/x.conf"] if configured else [],
            **kw,
        )
    )


def test_containerd2_default_fails_with_the_drop_in_fix(catalog: Catalog) -> None:
    f = judge("NIM-RT-001", runtime(1024, 524288), catalog)
    assert f.status is Status.FAIL
    assert "4242" in f.message
    assert "1024" in f.message
    assert f.fix is not None
    for needle in (
        "from 1024 to at least 65536",
        "/etc/systemd/system/containerd.service.d/override.conf",
        "LimitNOFILE=65536",
        "systemctl daemon-reload && sudo systemctl restart containerd && sudo systemctl restart kubelet",
        "recreate the NIM pods",
        "base_runtime_spec",
        "ulimit-adjuster",
        "hard limit is already 524288",
    ):
        assert needle in f.fix
    assert f.evidence["nofileSoft"] == 1024
    assert f.evidence["candidates"] == [{"pid": 4242, "ppid": 1, "startTicks": 5, "unit": None}]


def test_low_hard_limit_gets_no_self_raise_hint(catalog: Catalog) -> None:
    f = judge("NIM-RT-001", runtime(1024, 4096), catalog)
    assert f.fix is not None
    assert "hard limit is already" not in f.fix


@pytest.mark.parametrize(("soft", "hard"), [(65536, 65536), (1048576, 1048576), (None, None)])
def test_enough_or_unlimited_passes(catalog: Catalog, soft: int | None, hard: int | None) -> None:
    f = judge("NIM-RT-001", runtime(soft, hard), catalog)
    assert f.status is Status.PASS
    assert f.fix is None


def test_just_below_threshold_fails(catalog: Catalog) -> None:
    assert judge("NIM-RT-001", runtime(65535, 65535), catalog).status is Status.FAIL


def test_unreadable_limits_is_an_error(catalog: Catalog) -> None:
    facts = Facts(
        runtime=RuntimeFacts(
            proc_root="/proc",
            containerd=ContainerdFacts(pid=9, source="/proc/9/limits", limits_error="unreadable: EACCES"),
        )
    )
    f = judge("NIM-RT-001", facts, catalog)
    assert f.status is Status.ERROR
    assert "EACCES" in f.message
    assert judge("NIM-RT-002", facts, catalog).status is Status.SKIP


def test_no_containerd_skips_all_with_reason(catalog: Catalog) -> None:
    facts = Facts(runtime=RuntimeFacts(proc_root="/host/proc"))
    for check_id in ("NIM-RT-001", "NIM-RT-002", "NIM-RT-003"):
        assert judge(check_id, facts, catalog).status is Status.SKIP
    message = judge("NIM-RT-003", facts, catalog).message
    assert "/host/proc" in message
    assert "not mounted" in message


def test_unlistable_proc_says_so(catalog: Catalog) -> None:
    facts = Facts(runtime=RuntimeFacts(proc_root="/host/proc", error="cannot list /host/proc: No such file"))
    assert "not readable" in judge("NIM-RT-003", facts, catalog).message


def test_found_daemon_passes_rt003(catalog: Catalog) -> None:
    f = judge("NIM-RT-003", runtime(), catalog)
    assert f.status is Status.PASS
    assert "4242" in f.message


@pytest.mark.parametrize(
    ("configured", "soft", "hard", "nr_open", "status"),
    [
        ("65536", 1024, 524288, 1048576, Status.WARN),
        ("65536", 65536, 65536, 1048576, Status.PASS),
        ("1024:524288", 1024, 524288, 1048576, Status.PASS),
        ("infinity", 1048576, 1048576, 1048576, Status.PASS),
        ("infinity", 1073741816, 1073741816, 1073741816, Status.PASS),
        ("infinity", 1024, 524288, 1048576, Status.WARN),
        ("infinity", None, None, 1048576, Status.PASS),
    ],
)
def test_configured_versus_running(
    catalog: Catalog,
    configured: str,
    soft: int | None,
    hard: int | None,
    nr_open: int,
    status: Status,
) -> None:
    f = judge("NIM-RT-002", runtime(soft, hard, configured, nr_open=nr_open), catalog)
    assert f.status is status
    if status is Status.WARN:
        assert f.fix is not None
        assert f"LimitNOFILE={configured}" in f.fix
        assert "restart containerd" in f.fix


def test_nothing_configured_skips_rt002(catalog: Catalog) -> None:
    f = judge("NIM-RT-002", runtime(), catalog)
    assert f.status is Status.SKIP
    assert "no LimitNOFILE configured" in f.message
