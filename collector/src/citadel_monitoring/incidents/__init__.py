"""The incident receiver (`citadel-incidents`): Alertmanager's webhook in, one summary per incident out.

- `config`: the typed, validated configuration.
- `grouping`: pure logic; which incident an alert belongs to (topology keys and a time window).
- `store`: incidents and alerts in SQLite, so a restart loses none.
- `engine`: webhook payloads -> incidents (idempotent), and the summary document.
- `enrich`: anomalous analytics series on the incident's hosts and models (Prometheus).
- `notify`: one summary per incident change to the channel's webhook, retried with backoff.
- `server`, `app`, `cli`: the authenticated HTTP server and the console script.

See docs/alerting.md#the-incident-receiver.
"""
