"""Catalog overlays (`--checks-dir`, a ConfigMap) and model catalogs a careless or hostile operator could
write: each is refused at load, with exit code 2 and one line naming the file, the check id and the key."""

from __future__ import annotations

import dataclasses
import os
import textwrap
import time
from pathlib import Path

import pytest

from nimdoctor.catalog import Catalog, CatalogError, load_catalog
from nimdoctor.catalog_params import fill
from nimdoctor.report import ContainerdCandidate, ContainerdFacts, Facts, RuntimeFacts, Status
from nimdoctor.rules.registry import RULES
from tests.hardening.conftest import CHECK_CATALOG, Cli, overlay_dir


def overlay(tmp_path: Path, body: str) -> Path:
    return overlay_dir(tmp_path, textwrap.dedent(body))


def refused(cli: Cli, folder: Path) -> str:
    result = cli("checks", "--checks-dir", str(folder))
    assert result.code == 2
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


@pytest.mark.parametrize(
    ("entry", "key", "problem"),
    [
        ("params: {minNofile: .nan}", "params.minNofile", "expected a whole number"),
        ("params: {minNofile: .inf}", "params.minNofile", "expected a whole number"),
        ("params: {minNofile: -65536}", "params.minNofile", "outside count 1024..1073741816"),
        ("params: {minNofile: 65536.5}", "params.minNofile", "expected a whole number"),
        ("params: {minNofile: 1e400}", "params.minNofile", "expected a whole number"),
        ("params: {minNofile: true}", "params.minNofile", "expected a whole number"),
        ("params: {minNofile: 99999999999999999999999}", "params.minNofile", "outside count"),
        ("params: {dropIn: '/etc/x.conf; rm -rf /'}", "params.dropIn", "expected an absolute path"),
        ("params: {dropIn: relative.conf}", "params.dropIn", "expected an absolute path"),
        ("fix: 'raise to {0}'", "'fix'", "placeholder '{0}' is not a plain name"),
        ("fix: 'raise to {}'", "'fix'", "placeholder '{}' is not a plain name"),
        ("fix: 'raise to {required.__class__}'", "'fix'", "is not a plain name"),
        ("fix: 'raise to {required[0]}'", "'fix'", "is not a plain name"),
        ("fix: 'raise to {required!r}'", "'fix'", "is not a plain name"),
        ("fix: 'raise to {required:>99999999}'", "'fix'", "is not a plain name"),
        ("fix: 'raise to {secret}'", "'fix'", "unknown placeholder {secret}"),
        ("fix: 'raise to {required'", "'fix'", "expected '}'"),
        ("fix: 'raise to }'", "'fix'", "Single '}'"),
        ("severity: fatal", "'severity'", "allowed: critical|warning|info"),
        ("short: " + "x" * 81, "'short'", "one line of at most 80"),
        ("colour: red", "'colour'", "unknown field"),
        ("area: gpu", "'area'", "unknown field"),
        ("params: {minNofiles: 1}", "'params'", "unknown parameter 'minNofiles'"),
        ("paramTypes: {minNofile: number}", "'paramTypes'", "unknown field"),
    ],
)
def test_a_bad_check_override_names_file_id_and_key(
    cli: Cli, tmp_path: Path, entry: str, key: str, problem: str
) -> None:
    line = refused(cli, overlay(tmp_path, f"  - id: NIM-RT-001\n    {entry}\n"))
    assert str(tmp_path / "overlay" / "site.yaml") in line
    assert "NIM-RT-001" in line
    assert key in line
    assert problem in line


@pytest.mark.parametrize(
    ("check", "entry", "key", "problem"),
    [
        ("NIM-GPU-009", "params: {minDriver: '535.x'}", "params.minDriver", "expected a version"),
        ("NIM-GPU-009", "params: {minDriver: 535.86}", "params.minDriver", "expected a version"),
        ("NIM-GPU-008", "params: {minExclusive: '\u0667.0'}", "params.minExclusive", "compute capability"),
        ("NIM-FIT-001", "params: {usableFraction: 1.5}", "params.usableFraction", "outside number"),
        ("NIM-FIT-001", "params: {usableFraction: .nan}", "params.usableFraction", "finite number"),
        (
            "NIM-FIT-001",
            "params: {unknownFix: 'size of {model.__init__}'}",
            "params.unknownFix",
            "plain name",
        ),
        ("NIM-FIT-001", "params: {unknownFix: 'size of {pod}'}", "params.unknownFix", "unknown placeholder"),
        ("NIM-FIT-001", 'params: {unknownShort: "a\\nb"}', "params.unknownShort", "one line"),
        ("NIM-FIT-003", "params: {sharedMemory: lots}", "params.sharedMemory", "expected a quantity"),
        ("NIM-FIT-006", "params: {maxTensorParallel: 0}", "params.maxTensorParallel", "outside count 1..64"),
        ("NIM-FIT-010", "params: {minComputeCapability: {fp8: nine}}", "params.minComputeCapability", "fp8"),
        (
            "NIM-FIT-010",
            "params: {minComputeCapability: {fp8: '9'}}",
            "params.minComputeCapability",
            "major.minor",
        ),
        (
            "NIM-FIT-001",
            "params: {kvCacheBytesPerElement: 0}",
            "params.kvCacheBytesPerElement",
            "outside number 0.5..4",
        ),
        ("NIM-GPU-001", "params: {remedies: {Timeout: 5}}", "params.remedies", "Timeout: expected text"),
        ("NIM-GPU-001", "params: {remedies: []}", "params.remedies", "expected a mapping"),
    ],
)
def test_every_declared_parameter_type_is_enforced(
    cli: Cli, tmp_path: Path, check: str, entry: str, key: str, problem: str
) -> None:
    line = refused(cli, overlay(tmp_path, f"  - id: {check}\n    {entry}\n"))
    assert check in line
    assert key in line
    assert problem in line


def test_a_map_overlay_adds_to_the_built_in_map(tmp_path: Path) -> None:
    folder = overlay(tmp_path, "  - id: NIM-GPU-001\n    params: {remedies: {Timeout: call the vendor}}\n")
    remedies = load_catalog(folder).get("NIM-GPU-001").params["remedies"]
    assert remedies["Timeout"] == "call the vendor"
    assert "other" in remedies  # the rule's fallback stays


def test_an_overlay_template_may_use_the_names_the_check_provides(tmp_path: Path) -> None:
    fix = "Ours: raise {current} to {required} in {dropin}; {{literal braces}}"
    folder = overlay(tmp_path, f"  - id: NIM-RT-001\n    fix: '{fix}'\n")
    assert load_catalog(folder).get("NIM-RT-001").fix == fix


ALIAS_BOMB = """\
apiVersion: nimdoctor.io/v1alpha1
kind: CheckCatalog
a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
checks: [{id: NIM-RT-001, params: {minNofile: *i}}]
"""


def test_an_alias_bomb_is_refused_fast(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "overlay"
    folder.mkdir()
    (folder / "bomb.yaml").write_text(ALIAS_BOMB)
    started = time.process_time()
    line = refused(cli, folder)
    assert time.process_time() - started < 5  # a generous bound: expanding it would take hours
    assert "bomb.yaml" in line
    assert "once its aliases are expanded" in line


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    folder = overlay(tmp_path, "  - &rt {id: NIM-RT-003, severity: warning}\n")
    assert load_catalog(folder).get("NIM-RT-003").severity.value == "warning"


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (lambda p: os.mkfifo(p), "not a regular file but a FIFO"),
        (lambda p: p.write_bytes(b"checks: [\xff]\n"), "not UTF-8"),
        (lambda p: p.write_text("checks: [\n" + "x" * 5000), "not valid YAML: line 3, column 1"),
        (lambda p: p.write_text("[" * 5000 + "]" * 5000), "not valid YAML"),
        (lambda p: p.write_text("- just a list\n"), "expected a mapping"),
        (lambda p: p.write_text("apiVersion: !!python/object:os.system x\n"), "not valid YAML"),
    ],
)
def test_overlay_files_that_are_not_catalogs(cli: Cli, tmp_path: Path, write: object, problem: str) -> None:
    folder = tmp_path / "overlay"
    folder.mkdir()
    write(folder / "site.yaml")  # type: ignore[operator]
    line = refused(cli, folder)
    assert "site.yaml" in line
    assert problem in line
    assert "x" * 100 not in line  # never an echo of the input


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("{name: m/x, paramsB: .nan, kind: llm}", "paramsB"),
        ("{name: m/x, paramsB: .inf, kind: llm}", "paramsB"),
        ("{name: m/x, paramsB: -70, kind: llm}", "paramsB"),
        ("{name: m/x, paramsB: 1e9, kind: llm}", "paramsB"),
        ("{name: 'm/x; rm', paramsB: 70, kind: llm}", "'name'"),
        ("{name: m/x, paramsB: 70, kind: llm, aliases: ['']}", "'aliases[0]'"),
        ("{name: m/x, paramsB: 70, kind: llm, precision: fp3}", "'precision'"),
        ("{name: m/x, paramsB: '70', kind: llm}", "paramsB"),
    ],
)
def test_a_bad_model_catalog_entry(cli: Cli, tmp_path: Path, model: str, problem: str) -> None:
    folder = tmp_path / "overlay"
    folder.mkdir()
    (folder / "models.yaml").write_text(
        f"apiVersion: nimdoctor.io/v1alpha1\nkind: ModelCatalog\nmodels: [{model}]\n"
    )
    line = refused(cli, folder)
    assert "models.yaml: entry 1" in line
    assert problem in line


def test_a_built_in_parameter_outside_its_own_declared_range_is_caught(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "rt.yaml").write_text(
        CHECK_CATALOG
        + "  - {id: NIM-RT-001, title: t, area: runtime, severity: warning, why: w, short: s, fix: f,\n"
        + "     runbook: r, params: {minNofile: 10}, paramTypes: {minNofile: count 1024..2048}}\n"
    )
    with pytest.raises(CatalogError, match=r"params.minNofile': 10 is outside count 1024..2048"):
        load_catalog(base=base)


def test_filling_a_template_never_raises() -> None:
    values = {"required": 65536}
    for template in ("{required", "}", "{0}", "{required.real}", "{required!r}", "{required:>5}", "{x}"):
        assert isinstance(fill(template, values), str)
    assert fill("at least {required}; {{ok}}; {missing}", values) == "at least 65536; {ok}; {missing}"


def test_a_broken_fix_template_cannot_turn_a_fail_into_an_error(catalog: Catalog) -> None:
    # Loading refuses such a template; a check built some other way still keeps its verdict.
    check = dataclasses.replace(catalog.get("NIM-RT-001"), fix="raise {current!r} to {required:>x} {0} }")
    facts = Facts(
        runtime=RuntimeFacts(
            proc_root="/proc",
            containerd=ContainerdFacts(pid=7, nofile_soft=1024, nofile_hard=4096, source="/proc/7/limits"),
            candidates=[ContainerdCandidate(pid=7)],
        )
    )
    finding = RULES["NIM-RT-001"].fn(facts, check)
    assert finding.status is Status.FAIL
    assert finding.fix == check.fix.strip()
