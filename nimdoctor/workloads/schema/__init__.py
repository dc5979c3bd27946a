"""The NIM Operator's own admission rules, offline: its CRDs' OpenAPI schemas and CEL rules.

`crds` holds the schemas (vendored per operator release under `data/`, or read from a cluster's installed
CRDs); `validate` checks an object's spec against them with jsonschema, evaluating the CRDs'
`x-kubernetes-validations` CEL rules as it goes (`cel`); `hints` turns a problem into advice ("did you mean
spec.expose.router?"). jsonschema and the CEL library are imported only when a spec is validated, so
`nimdoctor run` does not pay for them.
"""
