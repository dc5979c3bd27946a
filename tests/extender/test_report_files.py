"""`--reports PATH`: Report JSON from `nimdoctor run`, NodeReport YAML, lists; clear errors at start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nimdoctor.cli import cli
from nimdoctor.extender.reports import MAX_FILE_BYTES, ReportFileError, load_reports
from tests.extender.simulated import run_json, write_reports


def as_nodereport(report_json: str) -> dict[str, object]:
    """What the agent would publish for this report: a NodeReport object."""
    report = json.loads(report_json)
    return {
        "apiVersion": "nimdoctor.io/v1alpha1",
        "kind": "NodeReport",
        "metadata": {"name": report["node"]},
        "status": {
            "ready": report["ready"],
            "capabilities": report["capabilities"],
            "findings": report["findings"],
            "observedAt": report["generatedAt"],
            "heartbeatTime": report["generatedAt"],
        },
    }


def test_a_report_file_from_nimdoctor_run_loads_its_node(tmp_path: Path) -> None:
    path = tmp_path / "gpu-1.json"
    path.write_text(run_json("dgx-h100-containerd2", "gpu-1"))
    (record,) = load_reports(path, trust_simulated=True).records
    assert record.node == "gpu-1"
    assert record.capabilities.nofile_soft == 1024
    assert record.heartbeat_at is None  # never published: staleness goes by generatedAt
    assert record.simulated == "dgx-h100-containerd2"


def test_an_invalid_report_in_a_file_makes_only_its_node_unknown(tmp_path: Path) -> None:
    write_reports(tmp_path, {"good": "dgx-h100"})
    bad = as_nodereport(run_json("dgx-h100", "bad"))
    bad["status"]["capabilities"]["computeCapability"] = "\u00b2.\u00b3"  # type: ignore[index]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    loaded = load_reports(tmp_path, trust_simulated=True)
    assert [r.node for r in loaded.records] == ["good"]
    assert list(loaded.unusable) == ["bad"]
    assert loaded.unusable["bad"].kind == "invalid"
    assert loaded.unusable["bad"].detail.startswith(
        "capabilities.computeCapability: Expected `str` matching regex"
    )


def test_a_directory_reads_json_yaml_and_yml_and_ignores_other_files(tmp_path: Path) -> None:
    write_reports(tmp_path, {"a": "dgx-h100"})
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(as_nodereport(run_json("l40s-4x", "b"))))
    listing = {"apiVersion": "v1", "kind": "List", "items": [as_nodereport(run_json("no-driver", "c"))]}
    (tmp_path / "c.yml").write_text(yaml.safe_dump(listing))
    (tmp_path / "README.txt").write_text("not a report")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.json").write_text("{}")  # not read: directories are not searched
    records = {r.node: r for r in load_reports(tmp_path, trust_simulated=True).records}
    assert sorted(records) == ["a", "b", "c"]
    assert records["c"].ready is False


def test_a_yaml_stream_holds_several_nodereports(tmp_path: Path) -> None:
    docs = [as_nodereport(run_json("dgx-h100", name)) for name in ("x", "y")]
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert sorted(r.node for r in load_reports(path, trust_simulated=True).records) == ["x", "y"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "{not json", "not valid JSON"),
        ("bad.yaml", "a: [unclosed", "not valid YAML"),
        (
            "kind.json",
            '{"kind": "Pod", "apiVersion": "v1"}',
            "document 1: kind 'Pod' is neither NodeReport nor Report",
        ),
        (
            "empty.json",
            '{"apiVersion": "nimdoctor.io/v1alpha1", "kind": "NodeReport", "metadata": {"name": "n"}}',
            "has no status yet",
        ),
    ],
)
def test_an_unusable_file_is_an_error_naming_it(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(ReportFileError, match=message) as error:
        load_reports(tmp_path)
    assert name in str(error.value)


def test_undecodable_bytes_and_a_missing_path_are_errors(tmp_path: Path) -> None:
    (tmp_path / "latin.json").write_bytes(b'{"node": "\xff"}')
    with pytest.raises(ReportFileError, match=r"latin\.json: cannot read"):
        load_reports(tmp_path)
    with pytest.raises(ReportFileError, match="no such file or directory"):
        load_reports(tmp_path / "nothing")


def test_an_oversized_report_file_is_refused_unread(tmp_path: Path) -> None:
    with (tmp_path / "huge.json").open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ReportFileError, match=r"huge\.json: larger than 512 MiB"):
        load_reports(tmp_path)


def test_a_node_reported_twice_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(run_json("dgx-h100", "gpu-1"))
    (tmp_path / "two.json").write_text(run_json("l40s-4x", "gpu-1"))
    with pytest.raises(ReportFileError, match="node 'gpu-1' is already reported in"):
        load_reports(tmp_path)


def test_the_command_stops_with_exit_2_on_an_unreadable_report_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("[")
    result = CliRunner().invoke(cli, ["extender", "--reports", str(tmp_path), "--listen", "127.0.0.1:0"])
    assert result.exit_code == 2
    assert "bad.json: not valid JSON" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "8765"], "expected HOST:PORT"),
        (["--tls-cert", "cert.pem"], "give --tls-cert and --tls-key together"),
        (["--kubeconfig", "k.yaml"], "give --reports or --kubeconfig, not both"),
        (["--max-body", "64MB"], "a positive byte count"),
        (["--max-body", "0"], "a positive byte count"),
        (["--answer-cache", "-1"], "a positive byte count"),
        (["--answer-cache", "\u0661Mi"], "a positive byte count"),
        (["--on-missing-report", "ignore"], "'ignore' is not one of"),
    ],
)
def test_bad_flags_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    write_reports(tmp_path, {"a": "dgx-h100"})
    result = CliRunner().invoke(cli, ["extender", "--reports", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_simulated_report_in_a_file_is_unusable_unless_trusted(tmp_path: Path) -> None:
    write_reports(tmp_path, {"gpu-1": "dgx-h100"})
    untrusted = load_reports(tmp_path)
    assert untrusted.records == []
    assert untrusted.unusable == {"gpu-1": ("simulated", "dgx-h100")}
    assert [r.node for r in load_reports(tmp_path, trust_simulated=True).records] == ["gpu-1"]
