"""`nimdoctor capacity`'s table: the fleet total, one row per node, the unlock table, and notes."""

from __future__ import annotations

from nimdoctor.capacity.document import Capacity
from nimdoctor.render_base import console_text, make_console, make_table, paragraph, styled

_STATUS_STYLE = {"fits": "green", "full": "yellow", "blocked": "bold red", "unknown": "magenta"}
_CLIQUES = {
    "exact": "the report says which GPUs are taken",
    "assumed": "which GPUs are taken is unknown: any free GPUs assumed to form a clique",
    "pcie": "no NVLink clique of TP GPUs on the node: TP over PCIe",
    "not-needed": "TP 1 or MIG",
}


def render_table(document: Capacity, *, wide: bool, color: bool) -> str:
    """REPLICAS line; NODE STATUS GPUS FREE TP REPLICAS CHECK REASON (wide adds PREC, CLIQUES, FIXES); then
    UNLOCK: CHECK NODES REPLICAS FIX; then the notes."""
    console = make_console(color=color)
    unit = (
        f" (groups of {document.pods_per_replica} pods on as many nodes)"
        if document.pods_per_replica > 1
        else ""
    )
    paragraph(
        console,
        f"MODEL {document.resolved_model}   REPLICAS {document.replicas}{unit}   NODES {len(document.nodes)}"
        + (f"   UNKNOWN {document.unjudged}" if document.unjudged else ""),
    )
    headers = ("node", "status", "gpus", "free", "tp", "replicas")
    extra = ("prec", "cliques", "fixes") if wide else ()
    table = make_table(*headers, *extra, "check", "reason")
    cliques: set[str] = set()
    for row in document.nodes:
        layout = "-" if row.tensor_parallel is None else str(row.tensor_parallel)
        if row.pipeline_parallel and row.pipeline_parallel > 1:
            layout += f"x{row.pipeline_parallel}"
        cells = [
            row.node,
            styled(row.status, _STATUS_STYLE[row.status], color),
            "-" if row.gpus is None else str(row.gpus),
            "-" if row.free_gpus is None else str(row.free_gpus),
            layout,
            str(row.replicas),
        ]
        if wide:
            cells += [row.precision or "-", row.clique_check or "-", ",".join(row.fixes) or "-"]
        if row.clique_check:
            cliques.add(row.clique_check)
        reason = (row.reason or "-").removeprefix(row.check or "").strip()
        table.add_row(*cells, row.check or "-", reason)
    console.print()
    console.print(table)
    if document.unlock:
        unlock = make_table("check", "nodes", "replicas", "fix", prose=("nodes", "fix"))
        for entry in document.unlock:
            unlock.add_row(entry.check, ", ".join(entry.nodes), f"+{entry.replicas}", entry.short)
        console.print()
        paragraph(console, "UNLOCK (each fix alone, on the nodes named):")
        console.print(unlock)
        for entry in document.unlock:
            paragraph(console, f"{entry.check} assumes {entry.assumes}", indent="  ")
    notes = list(document.notes)
    if wide:
        notes += [f"cliques {name}: {_CLIQUES[name]}" for name in sorted(cliques)]
    if "assumed" in cliques and not wide:
        notes.append("some nodes' clique check assumes any free GPUs form a clique (-o wide: CLIQUES)")
    if notes:
        console.print()
        for note in notes:
            paragraph(console, f"Note: {note}")
    return console_text(console)
