"""`nimdoctor explain ID`: the fix with the catalog's values filled in and run-time values named, never a raw
placeholder; provenance tags as a Sources list; the same as a `Check` document."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from nimdoctor.catalog import Catalog, CatalogError, Check, builtin_dir, load_catalog
from nimdoctor.catalog_params import template_names
from nimdoctor.cli import cli
from nimdoctor.documents import schemas
from nimdoctor.explain import SOURCES, placeholders

DROP_IN = "/etc/systemd/system/containerd.service.d/override.conf"
TAG = re.compile(r"\[(NVIDIA|SEED|DERIVED|CODE)\]")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_fix_has_the_catalog_values_and_readable_run_time_names() -> None:
    text = invoke("explain", "NIM-RT-001").stdout
    fix = text.split("Fix:\n", 1)[1]
    assert "printf '[Service]\\nLimitNOFILE=65536\\n' | sudo tee " + DROP_IN in fix
    assert "from <current soft limit> to at least 65536" in flat(fix)
    assert "sudo mkdir -p <directory of the drop-in>" in fix
    assert "{" not in fix.split("Runbook:")[0]


@pytest.mark.parametrize("check_id", sorted(load_catalog().checks))
def test_no_check_prints_a_raw_placeholder_or_a_provenance_tag(check_id: str, catalog: Catalog) -> None:
    check = catalog.checks[check_id]
    result = invoke("explain", check_id)
    assert result.exit_code == 0
    for name in set(template_names(check.fix)):
        assert "{" + name + "}" not in result.stdout, name
    assert not TAG.search(result.stdout)
    tags = dict.fromkeys(TAG.findall(check.why))
    if tags or check.sources:
        sources = result.stdout.split("Sources:\n", 1)[1].split("\n\n", 1)[0]
        for source in check.sources:
            assert f"    {source.url}" in sources.splitlines()  # whole, on its own line: it stays clickable
        for tag in tags:
            assert f"{tag}: {SOURCES[tag]}" in flat(sources)


def test_sources_are_links_then_what_each_tag_means() -> None:
    text = invoke("explain", "NIM-FIT-005").stdout
    sources = text.split("Sources:\n", 1)[1]
    assert sources.startswith(
        "  NIM Operator release notes (3.0.0 known issue: Too many open files)\n"
        "    https://docs.nvidia.com/nim-operator/latest/release-notes.html\n"
    )
    for tag in ("NVIDIA", "SEED", "DERIVED"):
        assert f"{tag}: {SOURCES[tag]}" in flat(sources)
    assert "NIM Operator 3.0.0 release notes" in flat(text)  # the claim stays, its tag goes
    document = json.loads(invoke("explain", "NIM-FIT-005", "-o", "json").stdout)
    assert (
        document["references"][0]["url"] == "https://docs.nvidia.com/nim-operator/latest/release-notes.html"
    )


def test_a_node_check_without_tags_still_lists_its_documents() -> None:
    text = invoke("explain", "NIM-RT-001").stdout
    assert "    https://github.com/containerd/containerd/pull/8924\n" in text


def test_an_overlay_value_is_what_explain_fills_in(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"
        "  - id: NIM-RT-001\n    params:\n      minNofile: 131072\n"
        "      dropIn: /etc/systemd/system/containerd.service.d/nofile.conf\n"
    )
    text = invoke("explain", "NIM-RT-001", "--checks-dir", str(tmp_path)).stdout
    assert "LimitNOFILE=131072" in text
    assert "sudo tee /etc/systemd/system/containerd.service.d/nofile.conf" in text


def test_json_is_a_check_document() -> None:
    document = json.loads(invoke("explain", "nim-fit-001", "-o", "json").stdout)
    jsonschema.validate(document, schemas()["Check"])
    placeholders = {p["name"]: p for p in document["placeholders"]}
    assert (document["kind"], document["id"]) == ("Check", "NIM-FIT-001")
    assert placeholders["engine"] == {"name": "engine", "runtime": "the engine and why"}
    assert placeholders["need"] == {"name": "need", "runtime": "need per GPU"}
    assert "{need}" in document["fixTemplate"]
    assert "<need per GPU>" in document["fix"]
    assert [s["tag"] for s in document["sources"]] == ["NVIDIA", "CODE", "DERIVED"]
    assert not TAG.search(document["why"])
    assert document["paramTypes"]["usableFraction"] == "number 0.05..1"
    assert yaml.safe_load(invoke("explain", "nim-fit-001", "-o", "yaml").stdout) == document


def test_wide_adds_the_parameters_and_the_placeholders() -> None:
    table = invoke("explain", "NIM-RT-001").stdout
    wide = invoke("explain", "NIM-RT-001", "-o", "wide").stdout
    assert "PARAM" not in table
    assert re.search(r"^minNofile\s+count 1024\.\.1073741816\s+65536$", wide, re.MULTILINE)
    assert re.search(r"^\{current\}\s+<current soft limit>$", wide, re.MULTILINE)
    assert re.search(r"^\{dropin\}\s+" + re.escape(DROP_IN) + "$", wide, re.MULTILINE)


def test_a_placeholder_description_must_name_a_placeholder_of_the_fix(tmp_path: Path) -> None:
    runtime = (builtin_dir() / "runtime.yaml").read_text()
    broken = runtime.replace("      current: current soft limit\n", "      curent: current soft limit\n", 1)
    assert broken != runtime
    (tmp_path / "runtime.yaml").write_text(broken)
    with pytest.raises(CatalogError, match=r"placeholders.curent.*no placeholder \{curent\}"):
        load_catalog(base=tmp_path)
    (tmp_path / "runtime.yaml").write_text(
        runtime.replace('      required: "{minNofile}"\n', '      required: "{minNofiles}"\n', 1)
    )
    with pytest.raises(CatalogError, match="unknown placeholder"):
        load_catalog(base=tmp_path)


def test_an_overlay_cannot_change_what_placeholders_stand_for(tmp_path: Path) -> None:
    (tmp_path / "o.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: nimdoctor.io/v1alpha1
            kind: CheckCatalog
            checks:
              - id: NIM-RT-001
                placeholders: {current: anything}
            """
        )
    )
    with pytest.raises(CatalogError, match="unknown field 'placeholders'"):
        load_catalog(tmp_path)


# A value stands after a space, an opening bracket or quote, `=`, `:`, `/`, `-`, or a dot inside a dotted
# name (`<name>.<namespace>`); a placeholder glued to a word, a closing quote or a sentence's end is the
# leftover of a note that only applies sometimes (`.<a note when ...>`, `replicas<where replicas is set>`).
_VALUE_BEFORE = re.compile(r"(?:^|[\s(\[{=:/-]|(?<=[\s:=])\"|(?<=[\w>])\.)$")


def unfilled(check: Check, fix: str) -> list[str]:
    """The run-time placeholders of `fix` printed where no value can stand."""
    found = []
    for placeholder in placeholders(check):
        if placeholder.optional is True:
            if f"<{placeholder.runtime}>" in fix:
                found.append(f"optional {placeholder.name} printed")
            continue
        if not isinstance(placeholder.runtime, str):
            continue
        shown = f"<{placeholder.runtime}>"
        for at in (m.start() for m in re.finditer(re.escape(shown), fix)):
            if not _VALUE_BEFORE.search(fix[max(0, at - 2) : at]):
                found.append(fix[max(0, at - 20) : at + len(shown)])
    return found


@pytest.mark.parametrize("check_id", sorted(load_catalog().checks))
def test_no_explain_prints_an_unfilled_placeholder(check_id: str, catalog: Catalog) -> None:
    check = catalog.checks[check_id]
    fix = json.loads(invoke("explain", check_id, "-o", "json").stdout)["fix"]
    assert unfilled(check, fix) == []
    assert unfilled(check, invoke("explain", check_id).stdout.split("Fix:\n", 1)[1]) == []


def test_a_note_that_only_sometimes_applies_is_left_out_of_the_explained_fix() -> None:
    text = invoke("explain", "NIM-RT-001").stdout
    assert "(pod annotation ulimits.noderesource.dev/container.<name>).\n" in text
    assert "a note when" not in text.split("Runbook:")[0]
