"""Kubernetes access: client setup, the NodeReport resource, and (later) publishing and watch caches.

Only this package, `agent/`, `extender/` and `workloads/` import `kubernetes`, and lazily, so that
`nimdoctor run` starts without it.
"""
