"""`nimdoctor lint PATH...`: the workload checks on NIM manifests, offline, for CI."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nimdoctor.cli.options import (
    InputError,
    catalog_or_exit,
    checks_dir_option,
    fail_on_option,
    selection_options,
)
from nimdoctor.cli.workload_options import checks_or_exit, operator_version_option, parse_operator_version
from nimdoctor.report import Severity, at_least
from nimdoctor.workloads.evaluate import (
    build_report,
    evaluate,
    subjects_from_documents,
)
from nimdoctor.workloads.manifests import ManifestError, display_name, expand, parse, read_text
from nimdoctor.workloads.model import ObjectError
from nimdoctor.workloads.offline import lint_world
from nimdoctor.workloads.output import FORMATS, render_workloads
from nimdoctor.workloads.report import exit_code


@click.command("lint")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@checks_dir_option
@operator_version_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format: table, wide (every check, more columns), json, yaml or sarif (code scanning).",
)
@selection_options
@fail_on_option
def lint_cmd(
    paths: tuple[str, ...],
    checks_dir: Path | None,
    operator_version: str,
    output: str,
    only: str | None,
    skip: str | None,
    fail_on: str,
) -> None:
    """Check NIMService, NIMCache and NIMPipeline manifests before they are applied.

    PATH is a file, a directory (its *.yaml and *.yml files, recursively) or - for stdin; files may hold
    several YAML documents, and documents of other kinds are ignored. Checks that need a live cluster
    (secrets' contents, NIMCache status, nodes) say skip: run `nimdoctor run --cluster` for those.

    Exit codes: 1 a check failed; else 3 a check could not be evaluated; 2 usage error or invalid YAML
    (with its file, line and column); 0 otherwise (--fail-on critical: only critical checks count).
    """
    catalog = catalog_or_exit(checks_dir)
    version = parse_operator_version(operator_version)
    checks = checks_or_exit(catalog, only, skip)
    try:
        files = expand(paths)
        documents = [doc for name in files for doc in parse(name, read_text(name, sys.stdin))]
        subjects = subjects_from_documents(documents)
    except (ManifestError, ObjectError) as exc:
        raise InputError(str(exc)) from exc
    world = lint_world(documents, subjects, catalog, version)
    findings = evaluate(subjects, world, checks, documents)
    notes = [] if subjects else ["no NIMService, NIMCache or NIMPipeline documents found"]
    report = build_report(
        findings,
        source="lint",
        world=world,
        scope=[display_name(f) for f in files],
        objects=len(subjects),
        notes=notes,
    )
    click.echo(render_workloads(report, output, catalog, color=sys.stdout.isatty()), nl=False)
    sys.exit(exit_code([f for f in findings if at_least(f.severity, Severity(fail_on))]))
