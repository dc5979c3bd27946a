"""`nimdoctor checks` and `nimdoctor explain ID`."""

from __future__ import annotations

from pathlib import Path

import click

from nimdoctor.cli.options import InputError, catalog_or_exit, checks_dir_option, output_option
from nimdoctor.render import console_text, make_console, make_table, render_data
from nimdoctor.sanitize import clean_text


@click.command("checks")
@checks_dir_option
@output_option
def checks_cmd(checks_dir: Path | None, output: str) -> None:
    """List every check in the catalog."""
    catalog = catalog_or_exit(checks_dir)
    if output in ("json", "yaml"):
        data = [
            {
                "id": c.id,
                "title": c.title,
                "area": c.area,
                "severity": c.severity.value,
                "params": dict(c.params),
                "short": c.short,
                "runbook": c.runbook,
            }
            for c in catalog.checks.values()
        ]
        click.echo(render_data(data, output), nl=False)
        return
    wide = output == "wide"
    console = make_console(wide=wide, color=False)
    table = make_table(
        *(("id", "severity", "area", "title", "short") if wide else ("id", "severity", "title"))
    )
    for c in catalog.checks.values():
        row = (
            (c.id, c.severity.value, c.area, c.title, c.short) if wide else (c.id, c.severity.value, c.title)
        )
        table.add_row(*row)
    console.print(table)
    click.echo(console_text(console), nl=False)


@click.command("explain")
@click.argument("check_id")
@checks_dir_option
def explain_cmd(check_id: str, checks_dir: Path | None) -> None:
    """Print a check's title, why it matters, its fix and its runbook."""
    catalog = catalog_or_exit(checks_dir)
    check = catalog.checks.get(check_id.upper())
    if check is None:
        raise InputError(f"unknown check id {check_id!r}; `nimdoctor checks` lists them")
    params = ", ".join(f"{k}={v}" for k, v in check.params.items()) or "none"
    click.echo(
        clean_text(
            f"{check.id}  {check.title}\n"
            f"severity: {check.severity.value}   area: {check.area}   params: {params}\n\n"
            f"Why:\n{_indent(check.why)}\n\n"
            f"Fix (template; values in braces come from the node's evidence):\n{_indent(check.fix)}\n\n"
            f"Runbook: {check.runbook}"
        )
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else "" for line in text.strip().splitlines())
