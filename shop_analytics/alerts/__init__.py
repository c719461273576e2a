"""Alerts that arrive once: anomaly alerts on every daily KPI and the rules an admin sets
(SPEC section 3, Anomaly), kept with their state in a local SQLite file and sent by e-mail
and webhooks.

The flow: `rules` says what an admin may watch, `evaluate` finds what breaks on a day,
`store` remembers each alert (first seen, last sent, resolved) and every send, `messages`
words them in the deployment's language, `notify` delivers with retries, and `check` ties
it together for `python cli.py alerts check` and the Alerts page.
"""
