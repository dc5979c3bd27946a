"""DESIGN.md's one-way flow, enforced: probes read, rules judge, placement decides, and none of them reaches
into the cluster half; only the cluster half imports `kubernetes`, and only inside functions, so that
`nimdoctor run` starts without it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nimdoctor"
CLUSTER_HALF = ("cli", "agent", "extender", "cluster")
MAY_IMPORT_KUBERNETES = ("cluster", "agent", "extender", "workloads", "capacity")
IO_MODULES = ("os", "subprocess", "socket", "urllib", "http", "pathlib", "shutil", "kubernetes")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at top level?) for every absolute import in a file."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
    return found


def area(path: Path) -> str:
    """The package below `nimdoctor/` a file belongs to ('' for top-level modules)."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else ""


def modules(*areas: str) -> list[Path]:
    """The package's modules in these areas (all of them when none is named)."""
    return [p for p in sorted(PACKAGE.rglob("*.py")) if not areas or area(p) in areas]


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(PACKAGE)) for p in paths]


CORE = modules("probes", "rules", "placement")
PURE = modules("rules", "placement")
ALL = modules()


@pytest.mark.parametrize("path", CORE, ids=ids(CORE))
def test_probes_rules_and_placement_never_reach_into_the_cluster_half(path: Path) -> None:
    for module, _ in imports(path):
        parts = module.split(".")
        assert not (parts[0] == "nimdoctor" and len(parts) > 1 and parts[1] in CLUSTER_HALF), module


@pytest.mark.parametrize("path", PURE, ids=ids(PURE))
def test_rules_and_placement_do_no_io(path: Path) -> None:
    for module, _ in imports(path):
        assert module.split(".")[0] not in IO_MODULES, module


def test_only_the_cluster_half_imports_kubernetes_and_only_lazily() -> None:
    found = [(p, m, top) for p in ALL for m, top in imports(p) if m.split(".")[0] == "kubernetes"]
    assert found, "the cluster half talks to the API through the official client"
    for path, module, top_level in found:
        assert area(path) in MAY_IMPORT_KUBERNETES, (path, module)
        assert not top_level, f"{path}: {module} imported at module level"


def test_a_node_diagnosis_loads_neither_kubernetes_nor_the_servers() -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['nimdoctor', 'run', '--simulate', 'dgx-h100', '-o', 'json']\n"
        "try:\n"
        "    runpy.run_module('nimdoctor', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('kubernetes', 'uvicorn', 'starlette', 'prometheus_client', 'kmock', 'jsonschema', 'cel')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


@pytest.mark.parametrize("path", modules("probes"), ids=ids(modules("probes")))
def test_probes_read_only_real_hosts_and_never_import_the_simulator(path: Path) -> None:
    for module, _ in imports(path):
        assert not module.startswith("nimdoctor.simulation"), module


def test_the_renderers_import_in_one_direction() -> None:
    """The shared helpers sit below both renderers: render imports render_placement, never the reverse."""
    below = {m for m, _ in imports(PACKAGE / "render_base.py")}
    placement = {m for m, _ in imports(PACKAGE / "render_placement.py")}
    assert not below & {"nimdoctor.render", "nimdoctor.render_placement"}, below
    assert "nimdoctor.render" not in placement, placement


WORKLOAD_RULES = sorted((PACKAGE / "workloads" / "rules").glob("*.py"))
# What feeds the workload rules (reads manifests or the cluster, applies rules, renders, serves): the rules
# never import it, and the model and readers below them never import the rules.
WORKLOAD_FEEDERS = ("manifests", "collect", "evaluate", "audit", "events", "output", "server", "report")
WORKLOAD_MODEL = (PACKAGE / "workloads" / "model.py", PACKAGE / "workloads" / "readers.py")


@pytest.mark.parametrize("path", WORKLOAD_RULES, ids=ids(WORKLOAD_RULES))
def test_workload_rules_are_pure_and_never_import_what_feeds_them(path: Path) -> None:
    for module, _ in imports(path):
        parts = module.split(".")
        assert parts[0] not in IO_MODULES, module
        assert not (parts[0] == "nimdoctor" and len(parts) > 1 and parts[1] in CLUSTER_HALF), module
        feeder = parts[:2] == ["nimdoctor", "workloads"] and len(parts) > 2 and parts[2] in WORKLOAD_FEEDERS
        assert not feeder, module


@pytest.mark.parametrize("path", WORKLOAD_MODEL, ids=ids(list(WORKLOAD_MODEL)))
def test_the_workload_model_never_imports_the_rules(path: Path) -> None:
    for module, _ in imports(path):
        assert not module.startswith(("nimdoctor.rules", "nimdoctor.workloads.rules")), module


def test_node_rules_never_import_workloads() -> None:
    for path in modules("rules"):
        for module, _ in imports(path):
            assert not module.startswith("nimdoctor.workloads"), (path, module)
