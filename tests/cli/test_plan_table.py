"""`plan`'s table: warnings of machines that fit in their own column, check ids explained below, memory in
GiB beside the GPU's own."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner, Result

from nimdoctor.cli import cli

WIDE = {"COLUMNS": "200"}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=WIDE, catch_exceptions=False)


def rows(text: str) -> dict[str, list[str]]:
    lines = text.split("\n\n")[0].splitlines()
    return {line.split()[0]: line.split() for line in lines[1:] if line[:1].strip()}


def test_a_fitting_machine_keeps_its_warnings_out_of_reason() -> None:
    result = invoke("plan", "--model", "meta/llama-3.1-70b-instruct")
    table = rows(result.stdout)
    assert result.stdout.splitlines()[0].split() == [
        "MACHINE",
        "GPUS",
        "FITS",
        "TP",
        "PREC",
        "REASON",
        "WARNINGS",
    ]
    assert table["l40s-4x"][4:] == ["4", "fp8", "-", "NIM-FIT-003"]  # fits, with a caution
    assert table["l40s-vgpu-2x"][4:] == ["2", "fp8", "NIM-FIT-004", "NIM-FIT-011"]
    assert table["dgx-h100"][-2:] == ["-", "-"]


def test_each_check_id_shown_is_spelled_out_below_the_table_once_with_each_of_its_texts() -> None:
    result = invoke("plan", "--model", "meta/llama-3.1-70b-instruct")
    legend = result.stdout.split("\n\n")[1].splitlines()
    plan = json.loads(invoke("plan", "--model", "meta/llama-3.1-70b-instruct", "-o", "json").stdout)
    shorts = {s for m in plan["machines"] for s in ([m["reason"]] if m["reason"] else []) + m["warnings"]}
    assert legend[0].split() == ["CHECK", "SUMMARY"]
    ids = [line.split()[0] for line in legend[1:] if line.startswith("NIM-")]
    assert len(ids) == len(
        set(ids)
    )  # one row per check: NIM-FIT-003 fails on some machines, is unknown on others
    rows = " ".join(" ".join(line.split()) for line in legend[1:]).split("NIM-")[1:]
    said = {"NIM-" + row.split(" ", 1)[0]: row.split(" ", 1)[1] for row in rows}
    assert set(said) == {short.split(" ", 1)[0] for short in shorts}
    for short in shorts:
        check, text = short.split(" ", 1)
        assert text in said[check], short
    assert len([s for s in shorts if s.startswith("NIM-FIT-003 ")]) == 2


def test_wide_puts_the_memory_need_beside_the_gpu_s_memory_in_gib() -> None:
    result = invoke("plan", "--model", "meta/llama-3.1-70b-instruct", "-o", "wide")
    line = next(line for line in result.stdout.splitlines() if line.startswith("dgx-h100 "))
    assert "MEMORY" in result.stdout.splitlines()[0]
    assert "needs 56.4 GiB of 79.6 GiB" in line  # 70B fp8 at TP 2: 32.9 + 20.0 (KV) + 3.5 GiB
    assert " GB" not in result.stdout


def test_the_run_table_says_the_need_beside_the_gpu_and_never_decimal_gb() -> None:
    table = invoke("run", "--simulate", "l40s-vgpu-2x", "--model", "meta/llama-3.1-70b-instruct").stdout
    assert "needs 56.4 GiB of 48.0 GiB" in table
    assert not re.search(r"\d GB\b", table)
    failing = invoke(
        "run", "--simulate", "l40s-4x", "--model", "meta/llama-3.1-70b-instruct", "--tp", "1"
    ).stdout
    assert not re.search(r"\d GB\b", failing)
    assert "of 45.0 GiB per GPU" in failing
