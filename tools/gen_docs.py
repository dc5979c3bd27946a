"""Regenerate the README's check list and docs/runbook.md from the built-in check catalog."""

from __future__ import annotations

from pathlib import Path

from nimdoctor.catalog import load_catalog
from nimdoctor.catalog_docs import checks_table, replace_section, runbook

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Write both files."""
    catalog = load_catalog()
    readme = REPO / "README.md"
    readme.write_text(replace_section(readme.read_text(), checks_table(catalog)))
    (REPO / "docs" / "runbook.md").write_text(runbook(catalog))


if __name__ == "__main__":
    main()
