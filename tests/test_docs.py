"""The README and the runbook stay true: generated parts match the catalog, the test command matches CI."""

from __future__ import annotations

import re
from pathlib import Path

from nimdoctor.catalog import Catalog
from nimdoctor.catalog_docs import BEGIN, END, checks_table, runbook

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def test_readme_check_list_is_generated_from_the_catalog(catalog: Catalog) -> None:
    section = README.split(BEGIN, 1)[1].split(END, 1)[0]
    assert section.strip() == checks_table(catalog).strip(), "run: python tools/gen_docs.py"


def test_runbook_is_generated_from_the_catalog(catalog: Catalog) -> None:
    assert (REPO / "docs" / "runbook.md").read_text() == runbook(catalog), "run: python tools/gen_docs.py"


def test_every_runbook_anchor_exists(catalog: Catalog) -> None:
    headings = set(re.findall(r"^## (NIM-[A-Z]+-\d{3})$", runbook(catalog), re.MULTILINE))
    for check in catalog.checks.values():
        path, _, anchor = check.runbook.partition("#")
        assert path == "docs/runbook.md"
        assert anchor == check.id.lower()
        assert check.id in headings


def quickstart_commands() -> list[str]:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", quickstart)


def test_quickstart_is_two_commands_in_a_venv_and_ci_runs_the_test_command() -> None:
    install_and_run, test = quickstart_commands()
    assert (
        ".venv/" in (REPO / ".gitignore").read_text().splitlines()
    )  # a venv in the clone is never committed
    assert install_and_run.startswith(
        "python3 -m venv .venv && . .venv/bin/activate && pip install . && nimdoctor run --simulate "
    )
    assert test in (REPO / ".ci" / "run").read_text().splitlines()
