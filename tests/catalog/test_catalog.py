"""Loading, validating and overlaying the check catalog."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nimdoctor import rules
from nimdoctor.catalog import CatalogError, builtin_dir, load_catalog
from nimdoctor.report import Severity

GOOD = """\
apiVersion: nimdoctor.io/v1alpha1
kind: CheckCatalog
checks:
  - id: NIM-RT-001
    title: t
    area: runtime
    severity: warning
    params: {minNofile: 65536}
    why: w
    short: s
    fix: "raise to {required}"
    runbook: docs/runbook.md#nim-rt-001
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def broken(tmp_path: Path, text: str) -> str:
    write(tmp_path / "base", "runtime.yaml", text)
    with pytest.raises(CatalogError) as info:
        load_catalog(base=tmp_path / "base")
    return str(info.value)


def test_builtin_catalog_loads_and_is_the_repository_checks_folder() -> None:
    catalog = load_catalog()
    assert "NIM-RT-001" in catalog.checks
    assert catalog.get("NIM-RT-001").params["minNofile"] == 65536
    assert Path(str(builtin_dir())).name in ("checks", "_checks")


def test_unknown_key_names_file_entry_and_field(tmp_path: Path) -> None:
    message = broken(tmp_path, GOOD.replace("    why: w\n", "    why: w\n    colour: red\n"))
    assert "runtime.yaml" in message
    assert "entry 1 (NIM-RT-001)" in message
    assert "unknown field 'colour'" in message


def test_missing_field(tmp_path: Path) -> None:
    message = broken(tmp_path, GOOD.replace("    why: w\n", ""))
    assert "entry 1 (NIM-RT-001): missing field 'why'" in message


def test_duplicate_id(tmp_path: Path) -> None:
    entry = GOOD.split("checks:\n", 1)[1]
    message = broken(tmp_path, GOOD + entry)
    assert "entry 2 (NIM-RT-001): duplicate id NIM-RT-001" in message


def test_bad_severity_lists_the_allowed_values(tmp_path: Path) -> None:
    message = broken(tmp_path, GOOD.replace("severity: warning", "severity: fatal"))
    assert "field 'severity'" in message
    assert "critical|warning|info" in message


def test_unknown_kind(tmp_path: Path) -> None:
    assert "unknown kind 'CheckList'" in broken(
        tmp_path, GOOD.replace("kind: CheckCatalog", "kind: CheckList")
    )


def test_wrong_api_version(tmp_path: Path) -> None:
    assert "apiVersion must be" in broken(tmp_path, GOOD.replace("v1alpha1", "v9"))


def test_invalid_yaml(tmp_path: Path) -> None:
    assert "not valid YAML" in broken(tmp_path, "checks: [\n")


def test_short_line_too_long(tmp_path: Path) -> None:
    assert "field 'short'" in broken(tmp_path, GOOD.replace("short: s", "short: " + "x" * 81))


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{title: NVML, url: http://docs.nvidia.com/nvml}", "is not an https address"),
        ("{title: NVML, url: 'https://a b'}", "is not an https address"),
        ("{title: '', url: https://docs.nvidia.com/}", "must be one line"),
        ("{title: NVML}", "missing field"),
    ],
)
def test_a_source_is_a_title_and_an_https_address(tmp_path: Path, source: str, problem: str) -> None:
    message = broken(tmp_path, GOOD + f"    sources: [{source}]\n")
    assert "sources" in message
    assert problem in message


def test_node_and_placement_checks_that_cite_documents_link_them() -> None:
    for check in load_catalog().checks.values():
        cites = "[NVIDIA]" in check.why or "[CODE]" in check.why or check.area in ("gpu", "runtime")
        if check.area != "workload" and cites:
            assert check.sources, check.id
            assert all(s.url.startswith("https://") for s in check.sources)


def test_bad_id(tmp_path: Path) -> None:
    assert "does not look like" in broken(tmp_path, GOOD.replace("id: NIM-RT-001", "id: rt1"))


def overlay(tmp_path: Path, text: str) -> Path:
    write(tmp_path / "overlay", "site.yaml", text)
    return tmp_path / "overlay"


def test_overlay_changes_params_severity_and_text_and_keeps_the_rest(tmp_path: Path) -> None:
    directory = overlay(
        tmp_path,
        """\
        apiVersion: nimdoctor.io/v1alpha1
        kind: CheckCatalog
        checks:
          - id: NIM-RT-001
            severity: critical
            params: {minNofile: 1048576}
            why: our nodes run 1M
        """,
    )
    base = load_catalog()
    merged = load_catalog(directory)
    check = merged.get("NIM-RT-001")
    assert check.severity is Severity.CRITICAL
    assert check.params["minNofile"] == 1048576
    assert check.params["dropIn"] == base.get("NIM-RT-001").params["dropIn"]
    assert check.why == "our nodes run 1M"
    assert check.fix == base.get("NIM-RT-001").fix
    assert merged.get("NIM-RT-002") == base.get("NIM-RT-002")


def test_overlay_of_an_unknown_id_is_an_error(tmp_path: Path) -> None:
    directory = overlay(
        tmp_path,
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"
        "  - id: NIM-RT-999\n    severity: info\n",
    )
    with pytest.raises(CatalogError, match="NIM-RT-999 is not in the built-in catalog"):
        load_catalog(directory)


def test_overlay_of_an_unknown_param_is_an_error(tmp_path: Path) -> None:
    directory = overlay(
        tmp_path,
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"
        "  - id: NIM-RT-001\n    params: {minNofiles: 1}\n",
    )
    with pytest.raises(CatalogError, match="unknown parameter 'minNofiles'"):
        load_catalog(directory)


def test_overlay_param_of_the_wrong_type_is_an_error(tmp_path: Path) -> None:
    directory = overlay(
        tmp_path,
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"
        "  - id: NIM-RT-001\n    params: {minNofile: lots}\n",
    )
    with pytest.raises(CatalogError, match=r"params.minNofile.*expected a whole number"):
        load_catalog(directory)


def test_overlay_may_not_change_id_area(tmp_path: Path) -> None:
    directory = overlay(
        tmp_path,
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n  - id: NIM-RT-001\n    area: gpu\n",
    )
    with pytest.raises(CatalogError, match="unknown field 'area'"):
        load_catalog(directory)


def test_overlay_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not a directory"):
        load_catalog(tmp_path / "absent")


def test_every_catalog_id_has_exactly_one_rule_and_every_rule_an_entry() -> None:
    # Importing the placement and workload rule packages registers their rules beside the node rules.
    import nimdoctor.placement
    import nimdoctor.workloads.rules  # noqa: F401

    catalog = load_catalog()
    assert set(catalog.checks) == set(rules.RULES)
    for check_id, registered in rules.RULES.items():
        assert registered.check_id == check_id
        area = catalog.get(check_id).area
        assert (registered.kind == "placement") == (area == "placement"), check_id


def test_registering_a_second_rule_for_an_id_is_refused() -> None:
    with pytest.raises(RuntimeError, match="two rules for NIM-RT-001"):
        rules.node_rule("NIM-RT-001", "runtime")(lambda facts, check: None)  # type: ignore[arg-type,return-value]
