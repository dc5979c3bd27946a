"""The kube-scheduler extender: admits NIM pods only on nodes whose NodeReport says their model fits.

`protocol` holds the wire types (kube-scheduler's `extender/v1`, PascalCase keys); `pods` recognises NIM pods;
`cache` keeps the reports in memory (`reports` loads them from files, `nimdoctor.cluster.watch` from the
API); `decide` answers filter and prioritize from that memory (`scoring` holds the prioritize rule);
`metrics` counts; `app` serves it over HTTP; `serve` runs the webhook and the metrics socket in one event
loop; `run` puts one process together.
"""
