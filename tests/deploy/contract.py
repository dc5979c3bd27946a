"""The metric names and labels the agent, extender and audit export, as the workstreams agreed them (the
project's cross-workstream contract). Alerts and the dashboard may use these, the target labels a scrape adds,
and the two series other software provides; a misspelt name would make an alert that can never fire."""

from __future__ import annotations

# Labels every scraped series gets from the ServiceMonitor (job, instance, namespace, pod, node relabelled).
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "node", "service", "endpoint", "container"})

# metric -> its own labels
AGENT: dict[str, frozenset[str]] = {
    "nimdoctor_node_ready": frozenset(),
    "nimdoctor_check_success": frozenset({"check", "severity"}),
    "nimdoctor_check_status": frozenset({"check", "severity", "status"}),
    "nimdoctor_check_last_run_timestamp_seconds": frozenset({"check", "severity"}),
    "nimdoctor_check_last_success_timestamp_seconds": frozenset({"check", "severity"}),
    "nimdoctor_probe_duration_seconds": frozenset(),
    "nimdoctor_probe_runs_total": frozenset(),
    "nimdoctor_probe_failures_total": frozenset(),
    "nimdoctor_probe_last_success_timestamp_seconds": frozenset(),
    "nimdoctor_publish_runs_total": frozenset(),
    "nimdoctor_publish_failures_total": frozenset(),
    "nimdoctor_publish_last_success_timestamp_seconds": frozenset(),
    "nimdoctor_gpu_info": frozenset({"gpu", "uuid", "product", "virtualization"}),
    "nimdoctor_gpu_memory_bytes": frozenset({"gpu"}),
    "nimdoctor_gpu_nvlink_active_links": frozenset({"gpu"}),
    "nimdoctor_nvlink_max_clique_size": frozenset(),
    "nimdoctor_containerd_nofile_soft_limit": frozenset(),
    "nimdoctor_containerd_nofile_hard_limit": frozenset(),
}
EXTENDER: dict[str, frozenset[str]] = {
    "nimdoctor_extender_requests_total": frozenset({"verb"}),
    "nimdoctor_extender_request_failures_total": frozenset({"verb"}),
    "nimdoctor_extender_request_duration_seconds_bucket": frozenset({"verb", "le"}),
    "nimdoctor_extender_request_duration_seconds_sum": frozenset({"verb"}),
    "nimdoctor_extender_request_duration_seconds_count": frozenset({"verb"}),
    "nimdoctor_extender_nodes_rejected_total": frozenset({"check"}),
    "nimdoctor_extender_cached_reports": frozenset(),
    "nimdoctor_extender_stale_reports": frozenset(),
    "nimdoctor_extender_oldest_report_age_seconds": frozenset(),
    "nimdoctor_extender_unusable_reports": frozenset({"kind"}),
    "nimdoctor_extender_refused_reports_total": frozenset({"kind"}),
    "nimdoctor_extender_internal_errors_total": frozenset({"where"}),
    "nimdoctor_extender_answer_cache_hits_total": frozenset({"verb"}),
    "nimdoctor_extender_answer_cache_misses_total": frozenset({"verb"}),
    "nimdoctor_extender_answer_cache_bytes": frozenset(),
    "nimdoctor_extender_cache_synced": frozenset(),
}
AUDIT: dict[str, frozenset[str]] = {
    # `namespace` is the workload's: the audit's ServiceMonitor honours the exported label.
    "nimdoctor_workload_check_success": frozenset({"namespace", "kind", "name", "check"}),
    "nimdoctor_audit_runs_total": frozenset(),
    "nimdoctor_audit_failures_total": frozenset(),
    "nimdoctor_audit_last_success_timestamp_seconds": frozenset(),
    "nimdoctor_model_capacity_replicas": frozenset({"namespace", "nimservice", "model"}),
    "nimdoctor_nimservice_hpa_max_replicas": frozenset({"namespace", "nimservice"}),
}
EVERY_PROCESS: dict[str, frozenset[str]] = {"nimdoctor_build_info": frozenset({"version", "revision"})}
# Prometheus's own per-target series, and kube-state-metrics' node labels (label_<sanitised key>).
EXTERNAL: dict[str, frozenset[str]] = {
    "up": frozenset(),
    "kube_node_labels": frozenset({"label_nvidia_com_gpu_present"}),
}

METRICS: dict[str, frozenset[str]] = {**AGENT, **EXTENDER, **AUDIT, **EVERY_PROCESS, **EXTERNAL}
