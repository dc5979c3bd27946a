"""Regenerate daemonset/crd/nodereport.yaml (the NodeReport CRD) from the report model."""

from __future__ import annotations

from pathlib import Path

from nimdoctor.cluster.crd import render

TARGET = Path(__file__).resolve().parent.parent / "daemonset" / "crd" / "nodereport.yaml"


def main() -> None:
    """Write the file."""
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(render())


if __name__ == "__main__":
    main()
