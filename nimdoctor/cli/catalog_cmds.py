"""`nimdoctor checks` and `nimdoctor explain ID`."""

from __future__ import annotations

from pathlib import Path

import click

from nimdoctor.catalog import Check
from nimdoctor.cli.completion import check_ids
from nimdoctor.cli.options import InputError, catalog_or_exit, checks_dir_option, output_option
from nimdoctor.documents import CheckDocument, CheckList, CheckSummary
from nimdoctor.render_base import console_text, make_console, make_table, paragraph, render_data


@click.command("checks")
@checks_dir_option
@output_option
def checks_cmd(checks_dir: Path | None, output: str) -> None:
    """List every check in the catalog (-o wide adds AREA and SHORT)."""
    catalog = catalog_or_exit(checks_dir)
    if output in ("json", "yaml"):
        items = [
            CheckSummary(
                id=c.id,
                title=c.title,
                area=c.area,
                severity=c.severity,
                params=dict(c.params),
                short=c.short,
                runbook=c.runbook,
            )
            for c in catalog.checks.values()
        ]
        click.echo(render_data(CheckList(items=items), output), nl=False)
        return
    wide = output == "wide"
    console = make_console(color=False)
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
@click.argument("check_id", shell_complete=check_ids)
@checks_dir_option
@output_option
def explain_cmd(check_id: str, checks_dir: Path | None, output: str) -> None:
    """Print a check's title, why it matters, its fix (the catalog's values filled in, values found when it
    runs as <names>), its sources and its runbook. -o wide adds its parameters and the fix's placeholders."""
    from nimdoctor.explain import check_document

    catalog = catalog_or_exit(checks_dir)
    check = catalog.checks.get(check_id.strip().upper())
    if check is None:
        raise InputError(f"unknown check id {check_id!r}; `nimdoctor checks` lists them")
    document = check_document(check)
    if output in ("json", "yaml"):
        click.echo(render_data(document, output), nl=False)
        return
    click.echo(_explained(check, document, wide=output == "wide"), nl=False)


def _explained(check: Check, doc: CheckDocument, *, wide: bool) -> str:
    from nimdoctor.explain import paragraphs, param_text

    console = make_console(color=False)
    paragraph(console, f"{doc.id}  {doc.title}")
    console.print(f"SEVERITY {doc.severity.value}   AREA {doc.area}")
    console.print()
    console.print("Why:")
    for line in paragraphs(doc.why):
        if line.startswith((" ", "\t")):
            console.print("  " + line.rstrip())  # a formula or a list: kept as written
        else:
            paragraph(console, line, indent="  ")
    console.print()
    console.print("Fix:")
    console.print("\n".join("  " + line if line else "" for line in doc.fix.splitlines()))
    if doc.references or doc.sources:
        console.print()
        console.print("Sources:")
        for reference in doc.references:
            paragraph(console, reference.title, indent="  ")
            # An address is never wrapped: a terminal keeps it clickable.
            console.print(f"    {reference.url}", markup=False, highlight=False, soft_wrap=True)
        if doc.sources:
            kinds = "; ".join(f"{source.tag}: {source.meaning}" for source in doc.sources)
            paragraph(console, f"The why rests on {kinds}.", indent="  ")
    if wide and doc.params:
        console.print()
        params = make_table("param", "type", "value", prose=("value",))
        for key, value in check.params.items():
            params.add_row(key, doc.param_types.get(key, ""), " ".join(param_text(value).split()))
        console.print(params)
    if wide and doc.placeholders:
        console.print()
        names = make_table("placeholder", "filled with", prose=("filled with",))
        for p in doc.placeholders:
            shown = p.value if isinstance(p.value, str) else f"<{p.runtime}>"
            if p.optional is True:
                shown = f"{p.runtime}, only when it applies"
            names.add_row("{" + p.name + "}", shown)
        console.print(names)
    console.print()
    console.print(f"Runbook: {doc.runbook}")
    return console_text(console)
