"""Readers of the exports of the trackers shops use, as Sources of canonical events:
Google Analytics 4's BigQuery export (ga4.py), Snowplow's atomic events (snowplow.py),
Segment's and RudderStack's warehouse tables (segment.py) and PostHog's events export
(posthog.py). A user picks a tracker preset (presets/<name>.toml: ga4, snowplow, segment,
rudderstack, posthog) as a platform preset is picked, or edits a copy as a mapping.

    source = open_tracker("exports/ga4", preset="ga4")     # a folder, or a database URL
    events = source.read_table("events")                   # canonical events
    pairs = source.identities()                            # visitor id -> customer id
"""

import tomllib
from datetime import timedelta
from pathlib import Path

from connectors.trackers.preset import load_tracker_mapping, load_tracker_preset, tracker_preset_names
from connectors.trackers.source import SESSION_GAP, TrackerSource


def is_tracker_mapping(path: str | Path | None) -> bool:
    """Whether the TOML file at `path` is a tracker mapping (it names a `tracker`)."""
    if path is None or not Path(path).is_file():
        return False
    try:
        with Path(path).open("rb") as file:
            return "tracker" in tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return False


def open_tracker(
    location: str | Path,
    *,
    preset: str | None = None,
    mapping: str | Path | None = None,
    session_gap: timedelta = SESSION_GAP,
    schema: str | None = None,
) -> TrackerSource:
    """The tracker export at `location` (a folder of its files, or a SQLAlchemy URL of the
    database holding its tables, in `schema`), read through the tracker preset `preset` or
    the tracker mapping file `mapping`; events without a tracker session id are cut into
    sessions at gaps over `session_gap`."""
    return TrackerSource(location, preset=preset, mapping=mapping, session_gap=session_gap, schema=schema)


__all__ = [
    "TrackerSource", "is_tracker_mapping", "load_tracker_mapping", "load_tracker_preset", "open_tracker",
    "tracker_preset_names",
]
