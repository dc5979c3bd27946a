"""The containerd probe on fixture host roots: finding the daemon, reading its limits and LimitNOFILE."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec import UNSET

from nimdoctor.probes.hostfs import DirFS, MemFS
from nimdoctor.probes.runtime import (
    parse_open_files,
    probe_runtime,
    read_configured_nofile,
)
from nimdoctor.report import ContainerdFacts, NofileSetting
from tests.hosts import LIMITS_SAMPLE, Proc, host_tree, limits_text


def daemon(facts_root: Path) -> ContainerdFacts:
    facts = probe_runtime(DirFS(facts_root))
    assert facts.containerd is not UNSET
    return facts.containerd


def test_real_limits_sample_parses_as_its_own_values() -> None:
    assert parse_open_files(LIMITS_SAMPLE) == (20000, 20000)


def test_unlimited_is_none() -> None:
    assert parse_open_files(limits_text("unlimited", "unlimited")) == (None, None)


@pytest.mark.parametrize(
    "text",
    ["", "garbage\n", limits_text("lots", 5), limits_text(1024, "-1"), "Max open files\n"],
)
def test_garbage_limits_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"Max open files|number"):
        parse_open_files(text)


@given(
    soft=st.integers(0, 2**40),
    headroom=st.integers(0, 2**40),
    gap1=st.text(" \t", min_size=1, max_size=5),
    gap2=st.text(" \t", min_size=1, max_size=5),
    tail=st.sampled_from(["", " files", "\tfiles  ", "    files     "]),
)
def test_open_files_row_parses_whatever_the_whitespace(
    soft: int, headroom: int, gap1: str, gap2: str, tail: str
) -> None:
    hard = soft + headroom
    text = f"Limit Soft Hard\nMax open files{gap1}{soft}{gap2}{hard}{tail}\nMax locked memory 1 1\n"
    assert parse_open_files(text) == (soft, hard)


@given(st.text(max_size=200))
def test_parser_only_ever_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_open_files(text)


def test_daemon_found_by_exact_comm_with_only_comm_and_limits(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    tree.add(Proc(pid=4242, limits=limits_text(1024, 524288), ppid=None, start_ticks=None))
    tree.add(Proc(pid=4300, comm="containerd-shim", limits=limits_text(1, 1)))
    tree.add(Proc(pid=4301, comm="containerd-shi", limits=limits_text(1, 1)))
    found = daemon(tmp_path)
    assert (found.pid, found.nofile_soft, found.nofile_hard) == (4242, 1024, 524288)
    assert found.source == str(tmp_path / "proc/4242/limits")


def test_unlimited_daemon_limits_are_null(tmp_path: Path) -> None:
    host_tree(tmp_path).add(Proc(pid=7, limits=limits_text("unlimited", "unlimited")))
    found = daemon(tmp_path)
    assert found.nofile_soft is None
    assert found.nofile_hard is None


def test_child_named_containerd_is_not_the_daemon(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    tree.add(Proc(pid=10, limits=limits_text(1024, 4096), ppid=1, start_ticks=500))
    tree.add(Proc(pid=5, limits=limits_text(9, 9), ppid=10, start_ticks=100))
    facts = probe_runtime(DirFS(tmp_path))
    assert facts.containerd is not UNSET
    assert facts.containerd.pid == 10
    assert [c.pid for c in facts.candidates] == [5, 10]


def test_oldest_of_several_daemons_wins(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    tree.add(Proc(pid=300, limits=limits_text(1, 1), start_ticks=900))
    tree.add(Proc(pid=900, limits=limits_text(65536, 65536), start_ticks=50))
    assert daemon(tmp_path).pid == 900


def test_without_stat_the_lowest_pid_wins(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    for pid in (812, 77, 300):
        tree.add(Proc(pid=pid, limits=limits_text(pid, pid), ppid=None, start_ticks=None))
    assert daemon(tmp_path).pid == 77


def test_missing_limits_is_recorded_not_raised(tmp_path: Path) -> None:
    host_tree(tmp_path).add(Proc(pid=12, limits=None))
    found = daemon(tmp_path)
    assert found.nofile_soft is UNSET
    assert "unreadable" in str(found.limits_error)


def test_unreadable_limits_is_recorded(tmp_path: Path) -> None:
    # Root reads any file, so an unreadable one is made by putting a directory where the file should be.
    host_tree(tmp_path).add(Proc(pid=12, limits=None))
    (tmp_path / "proc/12/limits").mkdir()
    found = daemon(tmp_path)
    assert found.nofile_soft is UNSET
    assert "unreadable" in str(found.limits_error)


def test_garbage_limits_is_recorded(tmp_path: Path) -> None:
    host_tree(tmp_path).add(Proc(pid=12, limits="Max open files  many  more\n"))
    found = daemon(tmp_path)
    assert found.nofile_hard is UNSET
    assert "unparseable" in str(found.limits_error)


def test_no_proc_at_all_is_an_error_fact(tmp_path: Path) -> None:
    facts = probe_runtime(DirFS(tmp_path / "nowhere"))
    assert facts.containerd is UNSET
    assert "cannot list" in str(facts.error)


def test_no_containerd_leaves_the_keys_absent(tmp_path: Path) -> None:
    host_tree(tmp_path).add(Proc(pid=1, comm="systemd", limits=limits_text(1024, 524288)))
    facts = probe_runtime(DirFS(tmp_path))
    assert facts.containerd is UNSET
    assert facts.candidates == []


UNIT = "[Unit]\nDescription=containerd\n\n[Service]\nExecStart=/usr/bin/containerd\n{extra}\n"


@pytest.mark.parametrize(
    "unit_dir", ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"]
)
def test_limit_in_each_unit_location(tmp_path: Path, unit_dir: str) -> None:
    host_tree(tmp_path).file(f"{unit_dir}/containerd.service", UNIT.format(extra="LimitNOFILE=1048576"))
    config = read_configured_nofile(DirFS(tmp_path))
    setting = config.setting
    assert isinstance(setting, NofileSetting)
    assert (setting.soft, setting.hard, setting.raw) == (1048576, 1048576, "1048576")
    assert config.files == [str(tmp_path / unit_dir.lstrip("/") / "containerd.service")]
    assert config.errors == []


def test_etc_unit_masks_the_packaged_one(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    tree.file("/lib/systemd/system/containerd.service", UNIT.format(extra="LimitNOFILE=infinity"))
    tree.file("/etc/systemd/system/containerd.service", UNIT.format(extra=""))
    config = read_configured_nofile(DirFS(tmp_path))
    assert config.setting is None
    assert len(config.files) == 1
    assert "etc/systemd" in config.files[0]


def test_dropins_apply_after_the_unit_in_name_order_last_wins(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    tree.file("/lib/systemd/system/containerd.service", UNIT.format(extra="LimitNOFILE=infinity"))
    tree.file("/etc/systemd/system/containerd.service.d/10-a.conf", "[Service]\nLimitNOFILE=4096\n")
    tree.file("/etc/systemd/system/containerd.service.d/override.conf", "[Service]\nLimitNOFILE=65536\n")
    tree.file("/etc/systemd/system/containerd.service.d/notes.txt", "[Service]\nLimitNOFILE=1\n")
    config = read_configured_nofile(DirFS(tmp_path))
    setting = config.setting
    assert isinstance(setting, NofileSetting)
    assert setting.soft == 65536
    assert setting.source.endswith("override.conf")
    assert [Path(f).name for f in config.files] == ["containerd.service", "10-a.conf", "override.conf"]


def test_etc_dropin_masks_same_named_vendor_dropin(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    tree.file(
        "/usr/lib/systemd/system/containerd.service.d/50-limits.conf",
        "[Service]\nLimitNOFILE=1024\n",
    )
    tree.file("/etc/systemd/system/containerd.service.d/50-limits.conf", "[Service]\nLimitNOFILE=65536\n")
    config = read_configured_nofile(DirFS(tmp_path))
    assert isinstance(config.setting, NofileSetting)
    assert config.setting.soft == 65536
    assert len(config.files) == 1


def test_limit_outside_service_section_is_ignored(tmp_path: Path) -> None:
    host_tree(tmp_path).file("/etc/systemd/system/containerd.service", "[Unit]\nLimitNOFILE=5\n")
    assert read_configured_nofile(DirFS(tmp_path)).setting is None


def test_empty_assignment_resets(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    tree.file("/etc/systemd/system/containerd.service", UNIT.format(extra="LimitNOFILE=65536"))
    tree.file("/etc/systemd/system/containerd.service.d/zz.conf", "[Service]\nLimitNOFILE=\n")
    assert read_configured_nofile(DirFS(tmp_path)).setting is None


def test_bad_limit_value_is_ignored_like_systemd_and_noted_with_its_file(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    tree.file("/etc/systemd/system/containerd.service", UNIT.format(extra="LimitNOFILE=4096"))
    tree.file("/etc/systemd/system/containerd.service.d/x.conf", "[Service]\nLimitNOFILE=lots\n")
    config = read_configured_nofile(DirFS(tmp_path))
    assert isinstance(config.setting, NofileSetting)
    assert config.setting.soft == 4096  # systemd ignores the bad value and keeps the earlier one
    assert config.errors == []
    assert any("x.conf:2" in note and "lots" in note for note in config.notes)


def test_memfs_host_reads_like_a_directory(tmp_path: Path) -> None:
    files = {
        "/proc/99/comm": "containerd\n",
        "/proc/99/limits": limits_text(1024, 524288),
        "/etc/systemd/system/containerd.service": UNIT.format(extra="LimitNOFILE=1048576"),
    }
    tree = host_tree(tmp_path)
    for path, text in files.items():
        tree.file(path, text)
    from_mem = probe_runtime(MemFS(files, label="machine test"))
    from_dir = probe_runtime(DirFS(tmp_path))
    assert from_mem.containerd is not UNSET
    assert from_dir.containerd is not UNSET
    assert from_mem.containerd.nofile_soft == from_dir.containerd.nofile_soft == 1024
    mem_setting, dir_setting = from_mem.configured_nofile, from_dir.configured_nofile
    assert isinstance(mem_setting, NofileSetting)
    assert isinstance(dir_setting, NofileSetting)
    assert (mem_setting.soft, mem_setting.hard) == (dir_setting.soft, dir_setting.hard) == (1048576,) * 2
    assert mem_setting.source == "machine test:/etc/systemd/system/containerd.service"
    assert from_mem.containerd.source == "machine test:/proc/99/limits"


@pytest.mark.parametrize("empty", ["/lib/systemd", "/usr/lib/systemd"])
def test_an_empty_unit_directory_reads_as_no_units_there(tmp_path: Path, empty: str) -> None:
    # The agent mounts /lib/systemd and /usr/lib/systemd with type DirectoryOrCreate: on a host without one of
    # them the kubelet creates it empty, and the probe must read on as if it were absent.
    tree = host_tree(tmp_path)
    other = "/usr/lib/systemd" if empty == "/lib/systemd" else "/lib/systemd"
    tree.file(f"{other}/system/containerd.service", UNIT.format(extra="LimitNOFILE=1048576"))
    tree.path(empty).mkdir(parents=True)
    config = read_configured_nofile(DirFS(tmp_path))
    assert isinstance(config.setting, NofileSetting)
    assert config.setting.raw == "1048576"
    assert config.errors == []


def test_only_empty_unit_directories_mean_no_unit_found_and_no_error(tmp_path: Path) -> None:
    tree = host_tree(tmp_path)
    for empty in ("/etc/systemd", "/lib/systemd", "/usr/lib/systemd"):
        tree.path(empty).mkdir(parents=True)
    config = read_configured_nofile(DirFS(tmp_path))
    assert (config.setting, config.files, config.errors) == (None, [], [])
