"""Every parser of untrusted input, fuzzed: whatever the input, it returns a bounded result or raises its
own documented error, never anything else (limits and unit files: tests/probes)."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import msgspec
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimdoctor import yamlio
from nimdoctor.catalog import CatalogError, load_catalog
from nimdoctor.probes.runtime import parse_open_files
from nimdoctor.simulation.fakenvml import build_topology
from nimdoctor.simulation.machine import MAX_GPUS, MAX_LINKS, MachineError, load_builtin, parse_machine
from nimdoctor.simulation.machine_import import MachineImportError, import_machine, parse_smi_q
from nimdoctor.topo import TopoParseError, parse_topo
from tests.hosts import FIXTURES, LIMITS_SAMPLE

TOPOS = [
    (FIXTURES / name).read_text()
    for name in ("topo-m_4x-l40s_node-sys_2nic.txt", "topo-m_hgx-h100-sxm-8gpu_nv18_1nic.txt")
]
SMI_Q = (FIXTURES / "nvidia-smi-q_vgpu-guest_grid-v100d-8c_vsphere-tkgi.txt").read_text()
MACHINES = [msgspec.to_builtins(load_builtin(n).spec) for n in ("dgx-h100", "l40s-4x", "h100-vgpu-4x")]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Tokens a hostile or broken capture is made of: real cells, odd digits, controls, huge numbers.
_TOKENS = st.sampled_from(
    [
        "GPU0",
        "GPU1",
        "GPU\u0661",
        "X",
        "NV18",
        "NV99",
        "NV\u0662",
        "SYS",
        "PIX",
        "N/A",
        "0",
        "\u0660",
        "99999999999999999999",
        "\t",
        " ",
        "\n",
        "\r\n",
        "\x00",
        "\x1b[2J",
        "Legend:",
        ":",
        "MiB",
        "0x",
    ]
)
_HOSTILE = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["\u0661", "\u00b2", "gpu:\u0661", "9.\u0669", "0000:\u0661\u0668:00.0", "switch:x"]),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-5, 2**40), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _mutate(text: str, data: st.DataObject) -> str:
    """A capture with a few spans replaced by hostile tokens."""
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 12)))
        text = text[:start] + "".join(data.draw(st.lists(_TOKENS, max_size=4))) + text[end:]
    return text


@FUZZ
@given(data=st.data())
def test_limits_parse_to_ordered_64_bit_values_or_value_error(data: st.DataObject) -> None:
    text = _mutate(LIMITS_SAMPLE, data)
    try:
        soft, hard = parse_open_files(text)
    except ValueError:
        return
    for value in (soft, hard):
        assert value is None or 0 <= value < 2**64
    assert hard is None or (soft is not None and soft <= hard)


@FUZZ
@given(data=st.data())
def test_topo_parses_or_raises_topo_parse_error(data: st.DataObject) -> None:
    text = _mutate(data.draw(st.sampled_from(TOPOS)), data)
    try:
        parsed = parse_topo(text)
    except TopoParseError as exc:
        error = str(exc)
    else:
        assert 1 <= len(parsed.gpus) <= MAX_GPUS
        return
    assert len(error) < 400  # the line it names is quoted short


@FUZZ
@given(data=st.data())
def test_topo_import_gives_a_bounded_machine_or_its_own_error(data: st.DataObject) -> None:
    text = _mutate(data.draw(st.sampled_from(TOPOS)), data)
    try:
        machine = import_machine(text, gpu_name="NVIDIA H100 80GB HBM3")
    except MachineImportError:
        return
    for gpu in machine.spec.gpus:
        assert sum(link.count for link in (gpu.nvlink.links if gpu.nvlink else [])) <= MAX_LINKS


@FUZZ
@given(data=st.data())
def test_smi_q_parses_or_raises_machine_import_error(data: st.DataObject) -> None:
    text = _mutate(SMI_Q, data)
    with contextlib.suppress(MachineImportError):
        parse_smi_q(text)
    topo = "\tGPU0\tCPU Affinity\tNUMA Affinity\nGPU0\t X \t0-7\t0\n"
    with contextlib.suppress(MachineImportError):
        import_machine(topo, smi_q_text=text)


def _set_somewhere(raw: Any, data: st.DataObject) -> None:
    """Replace one value anywhere in a description by a hostile one."""
    node = raw
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            node = child
            continue
        node[key] = data.draw(_HOSTILE)
        return


@FUZZ
@given(data=st.data())
def test_machine_descriptions_load_bounded_or_raise_machine_error(data: st.DataObject) -> None:
    raw = copy.deepcopy(data.draw(st.sampled_from(MACHINES)))
    for _ in range(data.draw(st.integers(1, 3))):
        _set_somewhere(raw, data)
    try:
        text = yaml.safe_dump(raw)
    except yaml.YAMLError:
        return
    try:
        machine = parse_machine(text, "fuzzed")
        build_topology(machine.spec)  # what the NVML fake makes of it: no value may wrap or crash it
    except MachineError:
        return


_PLAIN = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@FUZZ
@given(data=st.data())
def test_overlays_load_or_raise_catalog_error(tmp_path_factory: Any, data: st.DataObject) -> None:
    entry: dict[str, Any] = {
        "id": data.draw(st.sampled_from(["NIM-RT-001", "NIM-GPU-001", "NIM-FIT-010", "x"]))
    }
    for key in data.draw(
        st.lists(st.sampled_from(["params", "fix", "short", "severity", "why", "title"]), max_size=3)
    ):
        entry[key] = data.draw(_PLAIN)
    if data.draw(st.booleans()):
        entry["params"] = {
            data.draw(
                st.sampled_from(["minNofile", "remedies", "minComputeCapability", "dropIn"])
            ): data.draw(_HOSTILE)
        }
    doc = {"apiVersion": "nimdoctor.io/v1alpha1", "kind": "CheckCatalog", "checks": [entry]}
    folder: Path = tmp_path_factory.mktemp("overlay")
    try:
        (folder / "site.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    except (yaml.YAMLError, UnicodeEncodeError):
        return
    with contextlib.suppress(CatalogError):
        load_catalog(folder)


@FUZZ
@given(text=st.text(st.sampled_from("&*ab[]{}:,- \n!|>'\"#"), max_size=200))
def test_any_yaml_text_loads_or_raises_a_yaml_error(text: str) -> None:
    with contextlib.suppress(yaml.YAMLError):
        yamlio.safe_load(text)
