"""Where a fleet comes from: report files and a pods file (offline), or a live cluster (read-only).

Offline, reports are read as the extender's `--reports` reads them (a bad file is an input error naming it)
and pods from `kubectl get pods -A -o json`. Live, three lists, paged: NodeReports, Nodes (their allocatable
devices) and Pods (not `Succeeded`/`Failed`); the RBAC this needs is `list` on those three, nothing else.
There, a bad or stale NodeReport, or a Node that is gone, costs that node an "unknown", never the answer.
Either way reports are judged as the extender judges them (`nodereport.read_usable`): an invalid one makes
its node unknown naming the field, and a simulated one counts as no report unless `trust_simulated`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from nimdoctor import files
from nimdoctor.capacity.compute import Fleet, NodeInput
from nimdoctor.capacity.layout import GpuLayout, gpu_layout
from nimdoctor.capacity.pods import GPU, MIG_PREFIX, Held, PodListError, device_count, held_by_pods
from nimdoctor.cluster import nodereport
from nimdoctor.cluster.limits import ListTooLong, paginate
from nimdoctor.extender.reports import ReportFileError, load_reports

# `kubectl get pods -A -o json` of 50,000 pods is a few hundred MiB; more is not a pod list.
MAX_PODS_BYTES = 1024 * files.MiB
PAGE = 500
NODEREPORTS = f"/apis/{nodereport.GROUP}/{nodereport.VERSION}/{nodereport.PLURAL}"
NODES = "/api/v1/nodes"
# The API server filters ended pods; `Held` filters them again (an emulator may ignore the selector).
PODS = "/api/v1/pods?" + urllib.parse.urlencode(
    {"fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"}
)


class FleetError(Exception):
    """The fleet cannot be read at all: a report or pods file that cannot be used, an API that does not
    answer or refuses a list."""


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cycle collector while documents are decoded: decoded JSON makes no reference cycles, and
    the collector's passes over a heap growing by 5,000 reports cost more than the decoding itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def offline_fleet(reports: Path, pods: Path | None, *, trust_simulated: bool = False) -> Fleet:
    """The fleet in report files (`--reports`) and, when given, a pods file (`--pods`)."""
    with _no_cycle_collection():
        return _offline_fleet(reports, pods, trust_simulated)


def _offline_fleet(reports: Path, pods: Path | None, trust_simulated: bool) -> Fleet:
    try:
        loaded = load_reports(reports, gpu_layout, trust_simulated=trust_simulated)
    except ReportFileError as exc:
        raise FleetError(str(exc)) from exc
    held = None
    if pods is not None:
        try:
            held = held_by_pods(files.read_file(pods, MAX_PODS_BYTES, f"--pods {pods}"))
        except files.FileTooLargeError:
            raise FleetError(f"--pods {pods}: larger than {MAX_PODS_BYTES // files.MiB} MiB") from None
        except OSError as exc:
            raise FleetError(f"--pods {pods}: cannot read: {exc}") from exc
        except PodListError as exc:
            raise FleetError(f"--pods {pods}: {exc}") from exc
    nodes = [
        NodeInput(name=record.node, record=record, layout=_layout(loaded.extracted.get(record.node)))
        for record in loaded.records
    ]
    nodes += [
        NodeInput(name=node, record=None, problem=why.describe()) for node, why in loaded.unusable.items()
    ]
    return Fleet(nodes=nodes, held=held, source="reports")


def _layout(extracted: object) -> GpuLayout | None:
    return extracted if isinstance(extracted, GpuLayout) else None


def _pages(api: Any, path: str) -> Iterator[list[Any]]:
    """The items of a list call, a page at a time (following `continue` as far as `cluster.limits` allows)."""
    from nimdoctor.cluster.api import ApiError

    def fetch(token: str | None) -> Mapping[str, Any]:
        query = {"limit": str(PAGE), **({"continue": token} if token else {})}
        separator = "&" if "?" in path else "?"
        try:
            body: Mapping[str, Any] = api.request("GET", path + separator + urllib.parse.urlencode(query))
        except ApiError as exc:
            raise FleetError(
                f"cannot list {path.split('?')[0]}: {exc.status or 'no answer'}: {exc.message}"
            ) from exc
        return body

    try:
        for body in paginate(fetch):
            items = body.get("items")
            yield items if isinstance(items, list) else []
    except ListTooLong as exc:
        raise FleetError(f"cannot list {path.split('?')[0]}: {exc}") from exc


def _allocatable(node: Mapping[str, Any]) -> tuple[str, Counter[str] | str] | None:
    """A Node's name and its allocatable devices (or why they cannot be read)."""
    metadata = node.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        return None
    status = node.get("status")
    allocatable = status.get("allocatable") if isinstance(status, Mapping) else None
    devices: Counter[str] = Counter()
    if isinstance(allocatable, Mapping):
        for resource, value in allocatable.items():
            if resource == GPU or (isinstance(resource, str) and resource.startswith(MIG_PREFIX)):
                try:
                    devices[resource] = device_count(value)
                except ValueError as exc:
                    return name, f"Node allocatable {resource}: {exc}"
    return name, devices


def _report_input(
    item: Any,
    allocatable: Mapping[str, Counter[str] | str],
    now: dt.datetime,
    stale_after: float,
    trust_simulated: bool,
) -> NodeInput:
    metadata = item.get("metadata") if isinstance(item, Mapping) else None
    name = str(metadata.get("name")) if isinstance(metadata, Mapping) else "<unnamed>"
    try:
        node, record = nodereport.read_usable(item, trust_simulated=trust_simulated)
    except nodereport.NodeReportError as exc:
        return NodeInput(name=name, record=None, problem=f"unreadable NodeReport: {exc}")
    if isinstance(record, nodereport.Unusable):
        return NodeInput(name=node, record=None, problem=record.describe())
    devices = allocatable.get(record.node)
    problem = None
    if record.is_stale(now, stale_after):
        problem = f"the NodeReport is stale (no heartbeat for more than {stale_after:g} s)"
    elif devices is None:
        problem = "no Node of this name: nothing can be scheduled there"
    elif isinstance(devices, str):
        problem = devices
    return NodeInput(
        name=record.node,
        record=record,
        layout=gpu_layout(item),
        allocatable=devices if isinstance(devices, Counter) else None,
        problem=problem,
    )


def cluster_fleet(
    api_client: Any, stale_after: float, now: dt.datetime | None = None, *, trust_simulated: bool = False
) -> Fleet:
    """The fleet of a live cluster, read with three paged lists (see the module docstring)."""
    with _no_cycle_collection():
        return _cluster_fleet(api_client, stale_after, now, trust_simulated)


def _cluster_fleet(
    api_client: Any, stale_after: float, now: dt.datetime | None, trust_simulated: bool
) -> Fleet:
    from nimdoctor.cluster.api import KubeApi

    api = KubeApi(api_client)
    allocatable = node_allocatable(_pages(api, NODES))
    return fleet_of(
        allocatable, _pages(api, NODEREPORTS), _pages(api, PODS), stale_after, now, trust_simulated
    )


def cluster_pods(api_client: Any) -> Iterator[list[Any]]:
    """The pods that hold devices (not `Succeeded`/`Failed`), a page at a time; `FleetError` when unlisted."""
    from nimdoctor.cluster.api import KubeApi

    return _pages(KubeApi(api_client), PODS)


def node_allocatable(pages: Iterable[list[Any]]) -> dict[str, Counter[str] | str]:
    """Each listed Node's allocatable GPU and MIG devices (or why they cannot be read), by name."""
    allocatable: dict[str, Counter[str] | str] = {}
    for page in pages:
        for item in page:
            found = _allocatable(item) if isinstance(item, Mapping) else None
            if found is not None:
                allocatable[found[0]] = found[1]
    return allocatable


def fleet_of(
    allocatable: Mapping[str, Counter[str] | str],
    report_pages: Iterable[list[Any]],
    pod_pages: Iterable[list[Any]],
    stale_after: float,
    now: dt.datetime | None = None,
    trust_simulated: bool = False,
) -> Fleet:
    """The live fleet from listed Nodes (`node_allocatable`), NodeReports and Pods, for a caller that has
    listed some of them already (the audit lists Nodes and NodeReports for its own checks)."""
    now = now or dt.datetime.now(dt.UTC)
    nodes: dict[str, NodeInput] = {}
    for page in report_pages:
        for item in page:
            node = _report_input(item, allocatable, now, stale_after, trust_simulated)
            nodes.setdefault(node.name, node)
    for name, devices in allocatable.items():
        if name not in nodes and isinstance(devices, Counter) and +devices:
            problem = "no NodeReport: the nimdoctor agent has not reported this GPU node"
            nodes[name] = NodeInput(name=name, record=None, problem=problem)
    held = Held()
    for page in pod_pages:
        for item in page:
            held.add(item)
    return Fleet(nodes=list(nodes.values()), held=held, source="cluster")
