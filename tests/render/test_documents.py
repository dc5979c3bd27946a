"""Documents for scripts: JSON and YAML text of one document, and the schema registry."""

from __future__ import annotations

import json
import tracemalloc

import jsonschema
import pytest
import yaml

from nimdoctor.documents import CheckList, CheckSummary, document_types, schemas
from nimdoctor.render_base import render_data
from nimdoctor.report import Severity
from nimdoctor.units import gib

DOCUMENT = CheckList(
    items=[
        CheckSummary(
            id="NIM-X-001",
            title="a check",
            area="x",
            severity=Severity.WARNING,
            params={"n": 1},
            short="one line",
            runbook="docs/runbook.md#nim-x-001",
        )
    ]
)


def test_json_is_indented_and_ends_with_a_newline() -> None:
    text = render_data(DOCUMENT, "json")
    assert text.endswith("}\n")
    assert text.count("\n") > 5
    assert json.loads(text)["items"][0]["severity"] == "warning"


def test_yaml_writes_multi_line_text_as_a_block_and_keeps_one_liners_plain() -> None:
    data = {"fix": "sudo mkdir -p /etc/x\nsudo systemctl daemon-reload\n", "title": "one: line", "n": 3}
    text = render_data(data, "yaml")
    assert "fix: |\n  sudo mkdir -p /etc/x\n  sudo systemctl daemon-reload\n" in text
    assert yaml.safe_load(text) == data
    assert text.endswith("\n")


def test_yaml_falls_back_to_a_quoted_scalar_where_a_block_cannot_hold_the_text() -> None:
    data = {"odd": "trailing space \nnext", "control": "a\x1b[2Jb\nc"}
    assert yaml.safe_load(render_data(data, "yaml")) == data


def test_every_kind_has_a_schema_that_pins_its_kind_and_api_version() -> None:
    kinds = schemas()
    assert (
        set(kinds)
        == set(document_types())
        == {
            "Report",
            "WorkloadReport",
            "Plan",
            "Capacity",
            "Topology",
            "CheckList",
            "Check",
            "MachineList",
            "Machine",
        }
    )
    document = json.loads(render_data(DOCUMENT, "json"))
    jsonschema.validate(document, kinds["CheckList"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "kind": "MachineList"}, kinds["CheckList"])


@pytest.mark.parametrize(
    ("nbytes", "text"), [(81559 * 2**20, "79.6 GiB"), (48 * 2**30, "48.0 GiB"), (0, "0.0 GiB")]
)
def test_memory_is_printed_in_gib(nbytes: int, text: str) -> None:
    assert gib(nbytes) == text


def test_json_escapes_non_ascii_exactly_as_json_dumps_does() -> None:
    data = {
        "names": ["gpu-\u00e9", "\u202eevil", "\x85c1", "\U0001f680 rocket", "plain", "\u4e2d\u6587"],
        "nested": [{"k\u00fc": "v\u00e4\U00010348"}],
        "n": 1.5,
    }
    assert render_data(data, "json") == json.dumps(data, indent=2) + "\n"


@pytest.mark.parametrize("non_ascii", [False, True], ids=["ascii", "one name in a thousand non-ascii"])
def test_json_of_a_large_document_holds_at_most_about_two_copies_of_it(non_ascii: bool) -> None:
    # A 20,000-NIMService `run --cluster -o json` is a 200 MB document: each extra copy of it is 200 MB, and a
    # single non-ASCII character decoded into it made the whole text four bytes a character.
    items = [{"id": f"NIM-X-{i:06d}", "message": "a finding of a NIMService " * 4} for i in range(20_000)]
    for item in items[::1000] if non_ascii else []:
        item["object"] = "caf\u00e9-\U0001f680"
    data = {"items": items}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        text = render_data(data, "json")
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert text == json.dumps(data, indent=2) + "\n"
    assert peak < 2.6 * len(text), f"{peak / len(text):.2f} times the document"
