"""`nimdoctor_build_info`: the one series every nimdoctor process (agent, extender, audit) exports alike."""

from __future__ import annotations

import os

from prometheus_client.core import GaugeMetricFamily

from nimdoctor import __version__

REVISION_ENV = "NIMDOCTOR_REVISION"


def revision() -> str:
    """The build's source revision (`NIMDOCTOR_REVISION`, set when the image is built), else `unknown`."""
    return os.environ.get(REVISION_ENV, "").strip() or "unknown"


def build_info() -> GaugeMetricFamily:
    """`nimdoctor_build_info{version,revision} 1`."""
    family = GaugeMetricFamily(
        "nimdoctor_build_info", "nimdoctor version and source revision.", labels=["version", "revision"]
    )
    family.add_metric([__version__, revision()], 1)
    return family
