"""The image: every manifest runs the package's own version of it, and the Dockerfile is a linted multi-stage
build on a pinned slim Python whose final stage runs `nimdoctor` as the manifests' non-root user."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

import nimdoctor
from tests.deploy.manifests import (
    IMAGE,
    INSTALL,
    REPO,
    entry_points,
    image_repository,
    image_tag,
    label,
    render,
    tool,
    workloads,
)

DOCKERFILE = REPO / "Dockerfile"
SLIM_PYTHON = re.compile(r"^python:(?P<minor>3\.\d+)\.\d+-slim(-[a-z]+)?$")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", path.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each starting with its FROM."""
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(DOCKERFILE):
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


@pytest.mark.parametrize("entry", entry_points(), ids=label)
def test_manifests_run_the_package_version_of_the_image(entry: Path) -> None:
    images = [c["image"] for w in workloads(render(entry)) for c in w.containers()]
    ours = [image for image in images if image_repository(image) == IMAGE]
    assert all(image_tag(image) == nimdoctor.__version__ for image in ours), ours
    assert all(image_tag(image) not in (None, "latest") for image in images), images


def test_the_install_runs_the_image_at_all() -> None:
    assert [w.name for w in workloads(render(INSTALL)) if w.nimdoctor_containers()]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    # The check above can fail: an unpinned base and an apt-get without pins are findings.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n")
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "DL3007" in result.stdout


def test_every_stage_builds_on_the_same_pinned_slim_python_the_package_supports() -> None:
    bases = [stage[0][1].split()[0] for stage in stages()]
    assert len(bases) >= 2, "multi-stage"
    assert len(set(bases)) == 1, bases
    match = SLIM_PYTHON.match(bases[0])
    assert match, bases[0]
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"{match['minor']}.0"), (bases[0], requires)


def test_final_stage_runs_nimdoctor_as_the_manifests_user_with_no_build_tools() -> None:
    final = stages()[-1]
    words = dict(final)
    assert words["ENTRYPOINT"] == '["nimdoctor"]'
    run = " ".join(args for word, args in final if word == "RUN")
    assert "pip install" not in run
    assert "apt-get install" not in run
    assert "pip uninstall" in run
    assert all("--from=" in args for word, args in final if word == "COPY"), "only the built venv"
    user, _, group = words["USER"].partition(":")
    for workload in workloads(render(INSTALL)):
        context = workload.pod["securityContext"]
        assert (str(context["runAsUser"]), str(context["runAsGroup"])) == (user, group), workload.name
    assert "nimdoctor" in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def test_dockerignore_lets_in_exactly_what_the_build_copies() -> None:
    ignore = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignore[0] == "*"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for word, args in instructions(DOCKERFILE)
        if word == "COPY" and "--from=" not in args
        for source in args.split()[:-1]
    }
    assert copied == allowed
