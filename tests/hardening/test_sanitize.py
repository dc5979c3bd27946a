"""Output that cannot be turned against the reader: terminal control from any input (node names, file
names, unit files, overlay texts) is replaced before a table or an error line, while JSON and YAML stay
valid and keep the data."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from nimdoctor.render_base import render_data
from nimdoctor.sanitize import REPLACEMENT, clean_line, clean_text, plain_data
from tests.hardening.conftest import RT_ONLY, Cli, overlay_dir
from tests.hosts import HostTree, Proc, limits_text

# Anything a terminal acts on: C0 and C1 controls, DEL, bidirectional overrides, lone surrogates.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
ATTACKS = {
    "clear screen (CSI)": "\x1b[2J\x1b[H",
    "8-bit CSI": "\x9b31m",
    "window title (OSC, BEL)": "\x1b]0;pwned\x07",
    "clipboard (OSC 52, ST)": "\x1b]52;c;ZWNobyBwd25lZA==\x1b\\",
    "8-bit OSC": "\x9d8;;http://evil\x9c",
    "DCS": "\x1bPq#0;2;0;0;0\x1b\\",
    "APC": "\x1b_Gf=100;AAAA\x1b\\",
    "unterminated OSC": "\x1b]0;forever",
    "charset": "\x1b(0",
    "carriage return": "PASS\r",
    "backspace": "FAIL\b\b\b\bPASS",
    "bell": "\x07",
    "next line (C1)": "\x85",
    "right-to-left override": "\u202eSSAP",
    "lone surrogate": "\udcff",
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_every_kind_of_control_is_replaced_and_the_text_kept(attack: str) -> None:
    for clean in (clean_line, clean_text):
        out = clean(f"node-a{attack}b")
        assert not CONTROL.search(out)
        assert out.startswith("node-a")
        assert REPLACEMENT in out


def test_whole_sequences_go_not_just_their_escape() -> None:
    assert clean_line("a\x1b]52;c;ZWNobw==\x07b") == f"a{REPLACEMENT}b"
    assert clean_line("a\x1b[38;5;196mb") == f"a{REPLACEMENT}b"


def test_text_keeps_its_newlines_and_tabs_a_line_does_not() -> None:
    assert clean_text("a\n\tb\r\n") == f"a\n\tb{REPLACEMENT}\n"
    assert "\n" not in clean_line("a\nb")


@given(st.text())
def test_no_text_survives_with_a_control_character(text: str) -> None:
    assert not CONTROL.search(clean_line(text))
    assert not CONTROL.search(clean_text(text).replace("\n", "").replace("\t", ""))


# Line and paragraph separators (Zl, Zp: U+2028, U+2029) break lines in terminals: cleaned, not plain.
@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp"))))
def test_plain_text_is_left_alone(text: str) -> None:
    assert clean_text(text) == text


def test_json_and_yaml_stay_valid_with_nan_and_surrogates() -> None:
    data = {"x": float("nan"), "y": [float("inf")], "z": "a\udcffb\x1b[2J"}
    assert json.loads(render_data(data, "json")) == {"x": None, "y": [None], "z": f"a{REPLACEMENT}b\x1b[2J"}
    assert yaml.safe_load(render_data(data, "yaml")) == plain_data(data)


NASTY = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\r\u202e"


@pytest.fixture
def nasty_host(tree: HostTree) -> HostTree:
    name = f"50-{NASTY}\udcff.conf"  # a file name may hold any byte but / and NUL
    path = tree.root / "etc/systemd/system/containerd.service.d"
    path.mkdir(parents=True)
    (path / os.fsencode(name).decode("utf-8", "surrogateescape")).write_text(
        f"[Service]\nLimitNOFILE=65536{NASTY}\n"
    )
    tree.add(Proc(pid=812, limits=limits_text(1024, 524288), cgroup="0::/system.slice/containerd.service\n"))
    return tree


@pytest.mark.parametrize("output", ["table", "wide"])
def test_tables_carry_no_terminal_control(cli: Cli, nasty_host: HostTree, output: str) -> None:
    result = cli(
        "run", "--host-root", str(nasty_host.root), *RT_ONLY, "-o", output, "--node-name", f"node{NASTY}"
    )
    assert result.code == 1
    assert not CONTROL.search(result.out.replace("\n", ""))
    assert "node" + REPLACEMENT in result.out


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_json_and_yaml_keep_the_data(cli: Cli, nasty_host: HostTree, output: str) -> None:
    result = cli(
        "run", "--host-root", str(nasty_host.root), *RT_ONLY, "-o", output, "--node-name", f"n{NASTY}"
    )
    assert result.code == 1
    report = json.loads(result.out) if output == "json" else yaml.safe_load(result.out)
    assert report["node"] == f"n{NASTY}"
    rt2 = next(f for f in report["findings"] if f["id"] == "NIM-RT-002")
    assert rt2["evidence"]["ignored"] == "65536" + NASTY.split("\r")[0]  # systemd ends a line at \r
    if output == "json":
        assert not CONTROL.search(result.out.replace("\n", ""))  # JSON escapes what it carries


def test_overlay_texts_are_cleaned_in_explain_and_lists(cli: Cli, tmp_path: Path) -> None:
    entry = f"  - id: NIM-RT-001\n    title: {json.dumps('t' + NASTY)}\n    why: {json.dumps('w' + NASTY)}\n"
    folder = overlay_dir(tmp_path, entry)
    for args in (("explain", "NIM-RT-001"), ("checks", "-o", "wide")):
        result = cli(*args, "--checks-dir", str(folder))
        assert result.code == 0
        assert not CONTROL.search(result.out.replace("\n", ""))


def test_error_lines_are_cleaned(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "--machine", str(tmp_path / f"box{NASTY}.yaml"))
    assert result.code == 2
    assert not CONTROL.search(result.err.replace("\n", ""))
    assert "box" in result.err
