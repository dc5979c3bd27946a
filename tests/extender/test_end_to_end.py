"""End to end on loopback: `nimdoctor extender --reports DIR --trust-simulated` as a real process, fed the
reports of simulated machines made with `nimdoctor run --simulate M --node-name N -o json`, asked the way the
scheduler asks, and read the way the scheduler reads. Without `--trust-simulated` the same reports admit
nothing."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from nimdoctor.cli import cli
from nimdoctor.extender.decide import SIMULATED
from tests.extender.gosched import event_message, read_filter, read_prioritize
from tests.extender.live import Client
from tests.extender.process import ExtenderProcess
from tests.extender.simulated import write_reports
from tests.placement.pods import nim_pod

pytestmark = pytest.mark.slow

# node name -> built-in machine: every machine, two nodes of the most common one.
FLEET = {
    "gpu-h100-a": "dgx-h100",
    "gpu-h100-b": "dgx-h100",
    "gpu-h100-c2": "dgx-h100-containerd2",
    "gpu-lost": "gpu-lost",
    "gpu-pcie-pairs": "h100-pcie-nvlink-pairs",
    "gpu-h100-vgpu": "h100-vgpu-4x",
    "gpu-a100": "hgx-a100-80gb",
    "gpu-a100-mig": "a100-mig",
    "gpu-l40s": "l40s-4x",
    "gpu-l40s-vgpu": "l40s-vgpu-2x",
    "cpu-no-driver": "no-driver",
}
NAMES = list(FLEET)
LLAMA_8B = "meta/llama-3.1-8b-instruct"
LLAMA_70B = "meta/llama-3.1-70b-instruct"
NEMOTRON_49B = "nvidia/llama-3.3-nemotron-super-49b-v1"
CONTRACT_METRICS = (
    "nimdoctor_build_info",
    "nimdoctor_extender_requests_total",
    "nimdoctor_extender_request_failures_total",
    "nimdoctor_extender_request_duration_seconds_bucket",
    "nimdoctor_extender_nodes_rejected_total",
    "nimdoctor_extender_cached_reports",
    "nimdoctor_extender_stale_reports",
    "nimdoctor_extender_oldest_report_age_seconds",
    "nimdoctor_extender_cache_synced",
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reports(tmp_path_factory.mktemp("reports"), FLEET)


@pytest.fixture(scope="module")
def extender(reports: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExtenderProcess]:
    log = tmp_path_factory.mktemp("log") / "extender.log"
    args = [
        "--reports",
        str(reports),
        "--trust-simulated",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]
    process = ExtenderProcess(args, log).wait_listening()
    yield process
    assert process.stop(signal.SIGTERM) == 0, process.output()


@pytest.fixture
def client(extender: ExtenderProcess) -> Iterator[Client]:
    with Client(extender.port) as connection:
        yield connection


def fits_by_run(model: str, gpus: int, machine: str) -> bool:
    """What `nimdoctor run --simulate MACHINE --model MODEL --gpus N` says about the fit."""
    args = ["run", "--simulate", machine, "--model", model, "--gpus", str(gpus), "-o", "json"]
    result = CliRunner().invoke(cli, args)
    return bool(json.loads(result.stdout)["placement"]["fits"])


def admitted(client: Client, pod: dict[str, object]) -> tuple[list[str], dict[str, tuple[str, list[str]]]]:
    status, body = client.post("/filter", {"Pod": pod, "Nodes": None, "NodeNames": NAMES})
    assert status == 200, body
    view = read_filter(body, NAMES, node_cache_capable=True)
    return view.feasible, view.statuses


def test_a_70b_pod_on_4_gpus_is_admitted_only_where_it_fits(client: Client) -> None:
    feasible, statuses = admitted(client, nim_pod(LLAMA_70B, gpus=4))
    assert feasible == [n for n in NAMES if fits_by_run(LLAMA_70B, 4, FLEET[n])]
    assert {"gpu-h100-a", "gpu-h100-b", "gpu-a100"} <= set(feasible)
    assert statuses["gpu-h100-c2"][1] == [
        "NIM-FIT-005 large model needs a higher containerd open-file limit; add a LimitNOFILE drop-in"
    ]
    assert statuses["gpu-lost"][1][0].startswith("NIM-FIT-008 ")
    assert statuses["gpu-l40s-vgpu"][1][0].startswith("NIM-FIT-002 ")


def test_an_8b_pod_is_admitted_on_every_ready_node_without_mig(client: Client, reports: Path) -> None:
    ready = [n for n in NAMES if json.loads((reports / f"{n}.json").read_text())["ready"]]
    assert len(ready) == len(NAMES) - 2  # gpu-lost and the node without a driver
    feasible, statuses = admitted(client, nim_pod(LLAMA_8B, gpus=1))
    # A whole-GPU request cannot land on MIG-partitioned GPUs: the pod must ask for a MIG device there.
    assert feasible == [n for n in ready if n != "gpu-a100-mig"]
    assert statuses["gpu-a100-mig"][1][0].startswith("NIM-FIT-009 ")
    assert all(
        reasons[0].startswith("NIM-FIT-008 ") for n, (_, reasons) in statuses.items() if n != "gpu-a100-mig"
    )


def test_a_49b_pod_is_not_admitted_on_the_containerd2_node_and_the_event_says_why(client: Client) -> None:
    feasible, statuses = admitted(client, nim_pod(NEMOTRON_49B, gpus=2))
    assert "gpu-h100-c2" not in feasible
    assert {"gpu-h100-a", "gpu-h100-b"} <= set(feasible)
    message = event_message(len(NAMES), statuses)
    assert (
        "1 NIM-FIT-005 large model needs a higher containerd open-file limit; add a LimitNOFILE drop-in"
        in message
    )


def test_prioritize_prefers_the_tightest_fit_over_http(client: Client) -> None:
    status, body = client.post(
        "/prioritize", {"Pod": nim_pod(LLAMA_8B, gpus=1), "Nodes": None, "NodeNames": NAMES}
    )
    assert status == 200
    scores = read_prioritize(body)
    assert scores["gpu-l40s"] > scores["gpu-h100-a"] > 0
    assert scores["gpu-lost"] == scores["cpu-no-driver"] == 0


def test_the_metrics_socket_serves_the_contract_metrics_and_probes(
    extender: ExtenderProcess, client: Client
) -> None:
    client.post("/filter", {"Pod": nim_pod(LLAMA_70B, gpus=4), "Nodes": None, "NodeNames": NAMES})
    with Client(extender.metrics_port) as metrics:
        assert metrics.get("/healthz") == (200, b"ok")
        assert metrics.get("/readyz") == (200, b"ok")
        assert metrics.post("/filter", {})[0] == 404  # the webhook stays on its own socket
        status, text = metrics.get("/metrics")
    assert status == 200
    exposition = text.decode()
    for name in CONTRACT_METRICS:
        assert f"\n{name}" in exposition, name
    assert "_created" not in exposition
    assert f"nimdoctor_extender_cached_reports {len(FLEET)}.0" in exposition
    assert "nimdoctor_extender_stale_reports 0.0" in exposition  # file reports never go stale
    assert 'nimdoctor_extender_nodes_rejected_total{check="NIM-FIT-005"}' in exposition
    assert "node=" not in exposition
    if shutil.which("promtool"):
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, check=False)
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_without_trust_simulated_simulated_reports_count_as_missing(reports: Path, tmp_path: Path) -> None:
    args = ["--reports", str(reports), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]
    process = ExtenderProcess(args, tmp_path / "untrusted.log").wait_listening()
    try:
        with Client(process.port) as client, Client(process.metrics_port) as metrics:
            status, body = client.post(
                "/filter", {"Pod": nim_pod(LLAMA_8B, gpus=1), "Nodes": None, "NodeNames": NAMES}
            )
            assert status == 200
            view = read_filter(body, NAMES, node_cache_capable=True)
            assert view.feasible == []
            assert {reasons[0] for _, reasons in view.statuses.values()} == {SIMULATED}
            exposition = metrics.get("/metrics")[1].decode()
        assert f'nimdoctor_extender_unusable_reports{{kind="simulated"}} {len(FLEET)}.0' in exposition
        assert f'nimdoctor_extender_refused_reports_total{{kind="simulated"}} {len(FLEET)}.0' in exposition
    finally:
        assert process.stop() == 0
    assert process.output().count("not used (its node counts as unknown): simulated") == len(FLEET)


def test_a_taken_port_is_an_error_at_start(extender: ExtenderProcess, reports: Path, tmp_path: Path) -> None:
    args = [
        "--reports",
        str(reports),
        "--listen",
        f"127.0.0.1:{extender.port}",
        "--metrics-listen",
        "127.0.0.1:0",
    ]
    second = ExtenderProcess(args, tmp_path / "second.log")
    assert second.process.wait(30) == 2
    assert f"cannot listen on 127.0.0.1:{extender.port}" in second.output()
    second.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")
def test_tls_serves_https_and_ctrl_c_exits_130(reports: Path, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    args = [
        "--reports",
        str(reports),
        "--trust-simulated",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    ]
    process = ExtenderProcess(args, tmp_path / "tls.log").wait_listening()
    try:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        connection = http.client.HTTPSConnection("127.0.0.1", process.port, context=context, timeout=10)
        body = json.dumps({"Pod": nim_pod(LLAMA_8B, gpus=1), "Nodes": None, "NodeNames": ["gpu-h100-a"]})
        connection.request("POST", "/filter", body=body)
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["NodeNames"] == ["gpu-h100-a"]
        connection.close()
    finally:
        assert process.stop(signal.SIGINT) == 130
