"""The node agent (`nimdoctor agent`): probes on an interval through the same pipeline as `nimdoctor run`,
serves Prometheus metrics and health on one port, and publishes the report to the Kubernetes API.

`loop` schedules probes and publishing, `state` holds what the latest probe and publish left behind,
`metrics` turns that into fresh metric families on each scrape, `server` serves them with `/healthz` and
`/readyz`, `backoff` spaces out retries while the API server is away.
"""
