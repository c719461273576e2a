"""The product's own code beyond the design card's folders, by layer:

- the way in: `config` (the one typed configuration), `loading` (a source's canonical tables
  plus what is derived once per load), `pushdown` (large shops computed where they live);
- the surfaces: `ui` and `charts` (the dashboard's pieces), `exports` and `cli` (the command
  line), `reports` (management reports), `alerts` (anomaly and rule alerts and their delivery),
  `access` (sign-in and roles);
- shared words: `i18n` and `locales/`.

`app.py` and `pages/` (the dashboard), `metrics/`, `models/`, `connectors/` and
`sample_data/` stay at the project's top level, as the design card lays them out.
"""
