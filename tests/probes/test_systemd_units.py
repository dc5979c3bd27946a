"""Unit files and drop-ins read as systemd reads them, and NIM-RT-002 never passing where systemd would
apply something else than what nimdoctor read."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimdoctor.catalog import Catalog
from nimdoctor.probes.hostfs import DirFS
from nimdoctor.probes.runtime import probe_runtime, read_configured_nofile
from nimdoctor.probes.systemd import (
    Assignment,
    Limit,
    UncertainValueError,
    UnitSyntaxError,
    parse_rlimit,
    parse_unit,
    prefix_names,
    split_lines,
)
from nimdoctor.report import Facts, Status
from nimdoctor.rules.registry import RULES
from tests.hosts import HostTree, Proc, host_tree, limits_text, needs_root

UNIT_PATH = "/usr/lib/systemd/system/containerd.service"
DROPINS = "/etc/systemd/system/containerd.service.d"
UNIT = "[Unit]\nDescription=containerd\n\n[Service]\nExecStart=/usr/bin/containerd\nLimitNOFILE=1024:524288\n"


def values(text: str) -> list[str]:
    return [a.value for a in parse_unit(text) if a.section == "Service" and a.key == "LimitNOFILE"]


def test_a_leading_byte_order_mark_is_ignored() -> None:
    assert values("\ufeff[Service]\nLimitNOFILE=65536\n") == ["65536"]


def test_continuation_lines_are_joined_with_a_space() -> None:
    assert values("[Service]\nLimitNOFILE=\\\n  65536\n") == ["65536"]
    assert values("[Service]\nLimitNOFILE=65\\\n536\n") == ["65 536"]  # invalid for systemd, as it should be


def test_a_comment_inside_a_continuation_is_skipped_and_an_empty_line_ends_it() -> None:
    assert values("[Service]\nLimitNOFILE=1024:\\\n# the hard limit\n524288\n") == ["1024: 524288"]
    text = "[Service]\nExecStart=/bin/true \\\n\nLimitNOFILE=65536\n"
    assert values(text) == ["65536"]


def test_an_even_number_of_backslashes_does_not_continue() -> None:
    assert [a.value for a in parse_unit("[Service]\nA=x\\\\\nLimitNOFILE=7\n")] == ["x\\\\", "7"]


def test_comments_quotes_and_trailing_text_stay_in_the_value() -> None:
    text = '[Service]\n# LimitNOFILE=1\n; LimitNOFILE=2\nLimitNOFILE="65536"\nLimitNOFILE=65536 # raised\n'
    assert values(text) == ['"65536"', "65536 # raised"]


def test_line_endings_as_systemd_splits_them() -> None:
    assert split_lines("a\r\nb\n\rc\rd\0e\n\nf") == ["a", "b", "c", "d", "e", "", "f"]
    assert values("[Service]\r\nLimitNOFILE=65536\r\n") == ["65536"]


def test_sections_and_keys_are_exact() -> None:
    text = "LimitNOFILE=1\n[service]\nLimitNOFILE=2\n[Service]\nlimitnofile=3\n LimitNOFILE = 4 \n"
    assert values(text) == ["4"]


@pytest.mark.parametrize(
    "text", ["[Service\nLimitNOFILE=1\n", "[Service] # note\n", "[Service]\nA=" + "x" * (1 << 20) + "\n"]
)
def test_what_systemd_refuses_to_load(text: str) -> None:
    with pytest.raises(UnitSyntaxError):
        parse_unit(text)


def test_bytes_that_are_not_utf8_make_the_file_unloadable() -> None:
    with pytest.raises(UnitSyntaxError, match="UTF-8"):
        parse_unit(b"[Service]\nLimitNOFILE=6\xff5536\n".decode("utf-8", "surrogateescape"))


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        ("65536", Limit(65536, 65536)),
        ("1024:524288", Limit(1024, 524288)),
        ("infinity", Limit(None, None)),
        ("1024:infinity", Limit(1024, None)),
        ("0", Limit(0, 0)),
        ("", None),
    ],
)
def test_limit_values_systemd_accepts(value: str, limit: Limit | None) -> None:
    assert parse_rlimit(value) == limit


@pytest.mark.parametrize(
    "value",
    [
        "lots",
        '"65536"',
        "65536 # raised",
        "4096:1024",
        "infinity:5",
        "1024:",
        "1:2:3",
        "18446744073709551615",
    ],
)
def test_limit_values_systemd_ignores(value: str) -> None:
    with pytest.raises(ValueError, match=r"number|soft limit|range") as info:
        parse_rlimit(value)
    assert not isinstance(info.value, UncertainValueError)


@pytest.mark.parametrize("value", ["010", "0x10000", "+65536", "-0", " 5", "1024: 524288", "65\\536"])
def test_limit_values_systemd_versions_disagree_on(value: str) -> None:
    with pytest.raises(UncertainValueError):
        parse_rlimit(value)


def test_dashed_unit_names_read_their_prefix_dropins() -> None:
    assert prefix_names("rke2-agent-x.service") == ["rke2-agent-.service", "rke2-.service"]
    assert prefix_names("containerd.service") == []


def configured(tree: HostTree) -> tuple[int | None, int | None] | str:
    config = read_configured_nofile(DirFS(tree.root))
    if config.errors:
        return "unknown"
    if config.setting is None:
        return "default"
    return config.setting.soft, config.setting.hard


@pytest.fixture
def tree(tmp_path: Path) -> HostTree:
    return host_tree(tmp_path).file(UNIT_PATH, UNIT)


def test_dropins_are_ordered_by_file_name_across_directories(tree: HostTree) -> None:
    tree.file(f"{DROPINS}/10-site.conf", "[Service]\nLimitNOFILE=4096\n")
    tree.file("/usr/lib/systemd/system/containerd.service.d/20-vendor.conf", "[Service]\nLimitNOFILE=65536\n")
    tree.file("/run/systemd/system/containerd.service.d/15-run.conf", "[Service]\nLimitNOFILE=8192\n")
    assert configured(tree) == (65536, 65536)  # 20-vendor.conf sorts last, whatever its directory


def test_type_wide_and_control_dropins_count(tree: HostTree) -> None:
    tree.file("/etc/systemd/system/service.d/50-all.conf", "[Service]\nLimitNOFILE=2048\n")
    assert configured(tree) == (2048, 2048)
    tree.file("/etc/systemd/system.control/containerd.service.d/60-x.conf", "[Service]\nLimitNOFILE=9000\n")
    assert configured(tree) == (9000, 9000)


def test_the_unit_dropin_wins_over_a_same_named_type_dropin(tree: HostTree) -> None:
    tree.file("/etc/systemd/system/service.d/50-x.conf", "[Service]\nLimitNOFILE=2048\n")
    tree.file("/usr/lib/systemd/system/containerd.service.d/50-x.conf", "[Service]\nLimitNOFILE=65536\n")
    assert configured(tree) == (65536, 65536)


def test_an_empty_dropin_masks_a_same_named_lower_one(tree: HostTree) -> None:
    tree.file("/usr/lib/systemd/system/containerd.service.d/50-x.conf", "[Service]\nLimitNOFILE=65536\n")
    tree.file(f"{DROPINS}/50-x.conf", "")
    assert configured(tree) == (1024, 524288)


@needs_root
def test_a_dropin_linked_to_dev_null_masks(tree: HostTree) -> None:
    tree.device("/dev/null", 1, 3)
    tree.file("/usr/lib/systemd/system/containerd.service.d/50-x.conf", "[Service]\nLimitNOFILE=65536\n")
    tree.symlink(f"{DROPINS}/50-x.conf", "/dev/null")
    assert configured(tree) == (1024, 524288)


@needs_root
def test_a_dropin_linked_to_another_device_is_unknown(tree: HostTree) -> None:
    tree.device("/dev/zero", 1, 5).symlink(f"{DROPINS}/50-x.conf", "/dev/zero")
    assert configured(tree) == "unknown"


def test_an_ignored_value_keeps_the_earlier_one(tree: HostTree) -> None:
    tree.file(f"{DROPINS}/override.conf", "[Service]\nLimitNOFILE=65536 # raised for NIM\n")
    assert configured(tree) == (1024, 524288)


def test_an_empty_assignment_resets_to_the_default(tree: HostTree) -> None:
    tree.file(f"{DROPINS}/override.conf", "[Service]\nLimitNOFILE=\n")
    assert configured(tree) == "default"


def test_an_unreadable_dropin_makes_it_unknown_unless_a_later_one_settles_it(tree: HostTree) -> None:
    tree.fifo(f"{DROPINS}/50-pipe.conf")
    assert configured(tree) == "unknown"
    tree.file(f"{DROPINS}/90-final.conf", "[Service]\nLimitNOFILE=65536\n")
    assert configured(tree) == (65536, 65536)


def test_a_broken_unit_file_is_unknown_whatever_follows(tree: HostTree) -> None:
    tree.file(UNIT_PATH, "[Service\nLimitNOFILE=1024\n")
    tree.file(f"{DROPINS}/90-final.conf", "[Service]\nLimitNOFILE=65536\n")
    assert configured(tree) == "unknown"


def test_a_broken_dropin_is_settled_by_a_later_one(tree: HostTree) -> None:
    tree.file(f"{DROPINS}/10-bad.conf", "[Service\nLimitNOFILE=1\n")
    assert configured(tree) == "unknown"
    tree.file(f"{DROPINS}/90-final.conf", "[Service]\nLimitNOFILE=65536\n")
    assert configured(tree) == (65536, 65536)


def test_a_value_systemd_versions_disagree_on_is_unknown(tree: HostTree) -> None:
    tree.file(f"{DROPINS}/override.conf", "[Service]\nLimitNOFILE=065536\n")
    assert configured(tree) == "unknown"


def rt002(tree: HostTree, catalog: Catalog) -> Status:
    facts = Facts(runtime=probe_runtime(DirFS(tree.root)))
    status: Status = RULES["NIM-RT-002"].fn(facts, catalog.get("NIM-RT-002")).status
    return status


@pytest.mark.parametrize(
    ("dropin", "status"),
    [
        ("\ufeff[Service]\nLimitNOFILE=1024:\\\n  524288\n", Status.ERROR),  # a blank before 524288
        ("\ufeff[Service]\nLimitNOFILE=\\\n1024:524288\n", Status.PASS),
        ("[Service]\r\nLimitNOFILE=65536\r\n", Status.WARN),
        # systemd ignores these and keeps the unit's 1024:524288: the admin's change never takes effect
        ("[Service]\nLimitNOFILE=65536 # raised\n", Status.WARN),
        ('[Service]\nLimitNOFILE="65536"\n', Status.WARN),
        ('[Service]\nLimitNOFILE="65536"\nLimitNOFILE=1024:524288\n', Status.PASS),
        ("[Service]\nLimitNOFILE=65536\n[Service\n", Status.ERROR),
    ],
)
def test_rt002_judges_what_systemd_applies(
    tmp_path: Path, catalog: Catalog, dropin: str, status: Status
) -> None:
    tree = host_tree(tmp_path).file(UNIT_PATH, UNIT).file(f"{DROPINS}/override.conf", dropin)
    tree.add(Proc(pid=812, limits=limits_text(1024, 524288), cgroup="0::/system.slice/containerd.service\n"))
    assert rt002(tree, catalog) is status


def test_rt002_errors_when_a_unit_file_cannot_be_read(tmp_path: Path, catalog: Catalog) -> None:
    tree = host_tree(tmp_path).fifo(UNIT_PATH)
    tree.add(Proc(pid=812, limits=limits_text(1024, 524288)))
    assert rt002(tree, catalog) is Status.ERROR


_word = st.text(st.sampled_from("abcXYZ019:_-. "), min_size=0, max_size=8).map(str.strip)


@settings(max_examples=200, deadline=None)
@given(
    assignments=st.lists(st.tuples(st.sampled_from(["LimitNOFILE", "ExecStart", "X"]), _word), max_size=6),
    splits=st.lists(st.booleans(), min_size=6, max_size=6),
    comments=st.lists(st.booleans(), min_size=6, max_size=6),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_continuations_comments_and_line_endings_do_not_change_the_assignments(
    assignments: list[tuple[str, str]], splits: list[bool], comments: list[bool], newline: str, bom: bool
) -> None:
    lines = ["[Service]"]
    for (key, value), split, comment in zip(assignments, splits, comments, strict=False):
        if split and value:
            # A continuation joins with one blank: split where the value has one, so nothing changes.
            head, blank, tail = value.partition(" ")
            if blank and head:
                lines += [f"{key}={head}\\", *(["# a comment"] if comment else []), tail]
                continue
        lines += [*(["; a comment"] if comment else []), f"{key}={value}"]
    text = ("\ufeff" if bom else "") + newline.join(lines) + newline
    parsed = [(a.key, a.value) for a in parse_unit(text)]
    assert parsed == [(k, " ".join(v.split(" "))) for k, v in assignments]
    assert all(isinstance(a, Assignment) and a.section == "Service" for a in parse_unit(text))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_as_systemd_refuses(text: str) -> None:
    with contextlib.suppress(UnitSyntaxError):
        parse_unit(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_limit_value_is_a_limit_or_a_value_error(value: str) -> None:
    try:
        limit = parse_rlimit(value)
    except ValueError:
        return
    if limit is not None:
        assert limit.soft is None or limit.hard is None or limit.soft <= limit.hard
