"""Shell completion through click's completion API (what `_NIMDOCTOR_COMPLETE=bash_complete` runs): machine
names, check ids and catalog models, besides commands and options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.shell_completion import ShellComplete

from nimdoctor.cli import cli
from nimdoctor.simulation.machine import builtin_names


def complete(args: list[str], incomplete: str) -> list[str]:
    completion = ShellComplete(cli, {}, "nimdoctor", "_NIMDOCTOR_COMPLETE")
    return [item.value for item in completion.get_completions(args, incomplete)]


def test_machine_names_for_simulate_and_machine_show() -> None:
    assert complete(["run", "--simulate"], "dgx") == ["dgx-h100", "dgx-h100-containerd2"]
    assert complete(["topo", "--simulate"], "") == builtin_names()
    assert complete(["machine", "show"], "l40s") == ["l40s-4x", "l40s-vgpu-2x"]


def test_check_ids_for_explain_only_and_skip() -> None:
    assert complete(["explain"], "nim-rt") == ["NIM-RT-001", "NIM-RT-002", "NIM-RT-003"]
    assert complete(["run", "--only"], "NIM-RT-001,NIM-RT-00") == [
        "NIM-RT-001,NIM-RT-001",
        "NIM-RT-001,NIM-RT-002",
        "NIM-RT-001,NIM-RT-003",
    ]
    assert "NIM-WL-018" in complete(["lint", "--skip"], "NIM-WL-01")


def test_catalog_models_by_full_name_or_after_the_slash() -> None:
    full = complete(["plan", "--model"], "meta/llama-3.1-")
    assert {"meta/llama-3.1-8b-instruct", "meta/llama-3.1-70b-instruct"} <= set(full)
    assert complete(["run", "--model"], "llama-3.1-8b") == ["meta/llama-3.1-8b-instruct"]


def test_an_overlay_given_first_adds_its_models(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: ModelCatalog\nmodels:\n"
        "  - {name: acme/house-model-13b, paramsB: 13, kind: llm}\n"
    )
    assert complete(["plan", "--checks-dir", str(tmp_path), "--model"], "acme/") == ["acme/house-model-13b"]


def test_a_broken_overlay_completes_nothing_rather_than_failing(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: Nope\n")
    assert complete(["run", "--checks-dir", str(tmp_path), "--only"], "NIM") == []


def test_commands_and_options_complete_through_the_lazy_group() -> None:
    assert complete([], "ma") == ["machine"]
    assert "--fail-on" in complete(["run"], "--fa")
    assert complete(["machine"], "im") == ["import"]


def test_the_documented_bash_hook_answers_from_a_real_process() -> None:
    env = {**os.environ, "_NIMDOCTOR_COMPLETE": "bash_source"}
    script = subprocess.run(
        [sys.executable, "-m", "nimdoctor"], env=env, capture_output=True, text=True, check=True
    )
    assert "_nimdoctor_completion()" in script.stdout
    env.update(_NIMDOCTOR_COMPLETE="bash_complete", COMP_WORDS="nimdoctor explain NIM-GPU-00", COMP_CWORD="2")
    answer = subprocess.run(
        [sys.executable, "-m", "nimdoctor"], env=env, capture_output=True, text=True, check=True
    )
    assert answer.stdout.splitlines()[:2] == ["plain,NIM-GPU-001", "plain,NIM-GPU-002"]
