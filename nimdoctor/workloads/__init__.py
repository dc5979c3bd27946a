"""NIM workloads (NIMService, NIMCache, NIMPipeline): lint manifests, check a live cluster, audit it.

`model` holds what the rules judge (pure); `manifests` reads YAML with positions (lint); `collect` reads a
live cluster (the only module here that imports `kubernetes`, lazily); `evaluate` applies the rules;
`output` renders reports (table, JSON, YAML, SARIF); `audit` is the audit loop; `schema` holds the NIM
Operator's CRD schemas and validates specs against them (with their CEL rules).
"""
