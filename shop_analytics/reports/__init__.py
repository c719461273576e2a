"""Management reports (SPEC section 1): a week's or a month's numbers from the metric
functions (`content`), written highlights (`highlights`), and the files (`render`): HTML,
PDF and Excel."""
