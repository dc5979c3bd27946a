"""`nimdoctor agent` flags and exit codes: usage and input errors exit 2 before anything is served;
`--once` exits 0 when published, 1 when it did not publish."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nimdoctor.cli import cli
from nimdoctor.cluster.nodereport import parse_node_document
from tests.agent.conftest import no_cluster_env
from tests.cluster.emulated import NODE_KEY, REPORT_KEY, stored
from tests.cluster.reports import NODE
from tests.kube import Emulator, write_kubeconfig

SIMULATED = ["agent", "--simulate", "l40s-4x"]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*SIMULATED, *args], env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stale-after", "300"], "must exceed --heartbeat"),
        (["--listen", "nonsense"], "is not HOST:PORT"),
        (["--listen", "::1:9402"], "in brackets"),
        (["--interval", "0"], "--interval"),
        (["--machine", "m.yaml"], "not both"),
        (["--host-root", "/nonexistent-host-root"], "not a directory"),
    ],
)
def test_bad_flags_exit_2(args: list[str], message: str) -> None:
    code, output = invoke("--once", *args)
    assert code == 2
    assert message in output


def test_an_unknown_machine_exits_2() -> None:
    result = CliRunner().invoke(cli, ["agent", "--once", "--simulate", "no-such-machine"])
    assert result.exit_code == 2
    assert "unknown machine" in result.output


def test_a_missing_kubeconfig_named_explicitly_exits_2(tmp_path: Path) -> None:
    code, output = invoke("--once", "--kubeconfig", str(tmp_path / "missing"))
    assert code == 2
    assert "no such file" in output


def run_agent(
    args: list[str], tmp_path: Path, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nimdoctor", "agent", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**no_cluster_env(tmp_path), **(env or {})},
    )


@pytest.mark.slow
def test_a_broken_catalog_exits_2_before_serving(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "broken.yaml").write_text("apiVersion: nimdoctor.io/v1alpha1\nkind: Nonsense\n")
    done = run_agent(
        ["--simulate", "l40s-4x", "--listen", "127.0.0.1:0", "--checks-dir", str(tmp_path / "checks")],
        tmp_path,
    )
    assert done.returncode == 2
    assert "broken check catalog" in done.stderr
    assert "serving" not in done.stderr


@pytest.mark.slow
def test_a_busy_port_exits_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_agent(["--simulate", "l40s-4x", "--no-publish", "--listen", f"127.0.0.1:{port}"], tmp_path)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_once_without_publishing_exits_0() -> None:
    assert invoke("--once", "--no-publish")[0] == 0


def test_once_without_credentials_says_it_did_not_publish_and_exits_1(tmp_path: Path) -> None:
    done = run_agent(["--simulate", "l40s-4x", "--once", "--node-name", NODE], tmp_path)
    assert done.returncode == 1
    assert f"node {NODE}: ready=True; not published: no Kubernetes credentials" in done.stderr


def test_once_publishes_and_exits_0(node: Emulator, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", node.url)
    code, _ = invoke("--once", "--publish-simulated", "--kubeconfig", str(kubeconfig), "--node-name", NODE)
    assert code == 0
    record = parse_node_document(stored(node, REPORT_KEY))
    assert (record.node, record.ready, record.capabilities.gpu_product) == (NODE, True, "L40S")
    assert stored(node, NODE_KEY)["metadata"]["labels"]["nimdoctor.io/ready"] == "true"


def test_the_node_name_comes_from_the_environment(node: Emulator, tmp_path: Path) -> None:
    env = {
        "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", node.url)),
        "NIMDOCTOR_NODE_NAME": NODE,
    }
    assert invoke("--once", "--publish-simulated", env=env)[0] == 0
    assert stored(node, REPORT_KEY) is not None


def test_once_exits_1_when_publishing_fails(kube: Emulator, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url)
    args = ("--once", "--publish-simulated", "--kubeconfig", str(kubeconfig), "--node-name", NODE)
    assert invoke(*args)[0] == 1  # no such Node
    kube.stop()
    assert invoke(*args)[0] == 1  # no API server


def test_a_simulation_is_not_published_without_publish_simulated(node: Emulator, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", node.url)
    code, output = invoke("--once", "--kubeconfig", str(kubeconfig), "--node-name", NODE)
    assert code == 2
    assert "refusing to publish a simulated report (l40s-4x)" in output
    assert f"--kubeconfig {kubeconfig}" in output  # where it would have published
    assert stored(node, REPORT_KEY) is None
    assert not any(
        k.startswith("nimdoctor.io/") for k in stored(node, NODE_KEY)["metadata"].get("labels", {})
    )


def test_a_forgotten_home_kubeconfig_is_never_used(node: Emulator, tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    write_kubeconfig(tmp_path / ".kube" / "config", node.url)
    done = run_agent(
        [*SIMULATED[1:], "--once", "--publish-simulated", "--node-name", NODE],
        tmp_path,
        env={"KUBECONFIG": ""},
    )
    assert done.returncode != 2, done.stderr
    assert f"{tmp_path / '.kube' / 'config'} is not used unless given as --kubeconfig" in done.stderr
    assert "publishing to nowhere (metrics only)" in done.stderr
    assert stored(node, REPORT_KEY) is None


def test_the_start_line_says_where_it_publishes(node: Emulator, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", node.url)
    args = [*SIMULATED[1:], "--once", "--publish-simulated", "--node-name", NODE]
    done = run_agent(args, tmp_path, env={"KUBECONFIG": str(kubeconfig)})
    assert done.returncode == 0, done.stderr
    assert f"publishing to {node.url} (KUBECONFIG {kubeconfig})" in done.stderr
