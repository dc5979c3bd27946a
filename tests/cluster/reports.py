"""Real reports of built-in machines (through the NVML fake), and a host whose containerd has no limit."""

from __future__ import annotations

import dataclasses
import datetime as dt

from nimdoctor.catalog import load_catalog
from nimdoctor.diagnose import Sources, diagnose
from nimdoctor.probes.hostfs import MemFS
from nimdoctor.report import Report
from nimdoctor.simulation.machine import ContainerdSpec, HostSpec, load_builtin
from nimdoctor.simulation.simulate import host_files, machine_sources

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
NODE = "gpu-1"


def sources_of(machine: str, *, unlimited: bool = False) -> Sources:
    """A built-in machine's sources; `unlimited`: its containerd has `LimitNOFILE=infinity`."""
    sources = machine_sources(load_builtin(machine))
    if unlimited:
        host = HostSpec(containerd=ContainerdSpec(nofile_soft=None, nofile_hard=None))
        sources = dataclasses.replace(sources, host=MemFS(host_files(host), label="unlimited"))
    return sources


def report_of(machine: str, *, now: dt.datetime = NOW, node: str = NODE, unlimited: bool = False) -> Report:
    """The diagnosis of a built-in machine, as the agent would make it."""
    return diagnose(sources_of(machine, unlimited=unlimited), load_catalog(), node, now=now)
