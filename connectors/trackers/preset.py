"""A tracker preset: which tracker's export it reads and how its event names map to ours.

A preset is a TOML file (connectors/trackers/presets/ holds one per tracker; a user edits a
copy as a mapping):

    name = "Google Analytics 4 (BigQuery export)"
    tracker = "ga4"              # ga4, snowplow, segment, rudderstack or posthog
    unknown_events = "keep"      # names not listed: their own event type, or "refuse"

    [event_types]                # tracker event name = canonical event type ("" leaves it out)
    view_item = "product_view"
    session_start = ""
"""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from connectors.base import SourceError
from connectors.schema import EVENT_TYPES
from connectors.trackers.common import EventTypes

PRESETS = Path(__file__).resolve().parent / "presets"
TRACKER_NAMES = ("ga4", "snowplow", "segment", "rudderstack", "posthog")
_KEYS = {"name", "tracker", "unknown_events", "event_types"}


@dataclass(frozen=True)
class TrackerPreset:
    """A preset read from TOML: its title, its tracker and its event names."""

    name: str
    tracker: str
    event_types: EventTypes
    origin: str


def tracker_preset_names() -> dict[str, str]:
    """The shipped tracker presets by file name: their titles."""
    return {path.stem: load_tracker_mapping(path).name for path in sorted(PRESETS.glob("*.toml"))}


def load_tracker_preset(name: str) -> TrackerPreset:
    """The shipped preset connectors/trackers/presets/<name>.toml."""
    path = PRESETS / f"{name}.toml"
    if not re.fullmatch(r"[a-z0-9_]+", name) or not path.is_file():
        raise SourceError(f"there is no tracker preset {name!r}; they are {', '.join(tracker_preset_names())}.")
    return load_tracker_mapping(path)


def load_tracker_mapping(path: str | Path) -> TrackerPreset:
    """The tracker preset in the TOML file at `path`, every key checked."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise SourceError(f"cannot read the tracker mapping {path}: {error.strerror}.") from None
    except tomllib.TOMLDecodeError as error:
        raise SourceError(f"the tracker mapping {path} is not valid TOML: {error}.") from None
    return parse_tracker_mapping(data, str(path))


def parse_tracker_mapping(data: dict, origin: str) -> TrackerPreset:
    """A tracker preset from parsed TOML; SourceError says what is wrong and where."""
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise SourceError(f"{origin}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(_KEYS))}.")
    tracker = data.get("tracker")
    if tracker not in TRACKER_NAMES:
        raise SourceError(f"{origin}: tracker is one of {', '.join(TRACKER_NAMES)}, not {tracker!r}.")
    unknown_events = data.get("unknown_events", "keep")
    if unknown_events not in ("keep", "refuse"):
        raise SourceError(f"{origin}: unknown_events is \"keep\" or \"refuse\", not {unknown_events!r}.")
    names = data.get("event_types", {})
    if not isinstance(names, dict) or not all(isinstance(value, str) for value in names.values()):
        raise SourceError(f"{origin}: [event_types] maps tracker event names to event types, like view_item = \"product_view\".")
    for tracker_name, event_type in names.items():
        if event_type and not re.fullmatch(r"[a-z0-9_]+", event_type):
            raise SourceError(
                f"{origin}: [event_types] {tracker_name!r} = {event_type!r}: an event type is lower-case letters, "
                f"digits and _ (the views know {', '.join(EVENT_TYPES)}), or \"\" to leave the event out."
            )
    return TrackerPreset(
        name=str(data.get("name", Path(origin).stem)),
        tracker=tracker,
        event_types=EventTypes(dict(names), unknown_events),
        origin=origin,
    )
