"""Date axes in the reader's language: ticks as numbers and 年/月/日 in Chinese (Plotly's own
month names are English), one tick per point on short spans, and a single point drawn in the
middle of its own day, week or month instead of between duplicated ticks."""

from datetime import date, datetime, time, timedelta

from shop_analytics.i18n import DEFAULT_LANGUAGE

DAY_MS = 86_400_000
# Up to this many points get a tick each.
TICK_EVERY_POINT_UP_TO = 14
# Plotly picks the tick spacing (dtick) for the zoom; each range of spacings gets its format.
_STOPS = {
    "en": (("%m-%d %H:%M", None, DAY_MS - 1), ("%m-%d", DAY_MS, "M1"), ("%b %Y", "M1", "M12"), ("%Y", "M12", None)),
    "zh": (("%-m月%-d日 %H:%M", None, DAY_MS - 1), ("%-m月%-d日", DAY_MS, "M1"), ("%Y年%-m月", "M1", "M12"), ("%Y年", "M12", None)),
}
# Per grain of the points: the spacing of one tick per point, its format, half a point's
# width, and about how many days a point covers.
_GRAINS = {
    "day": (DAY_MS, {"en": "%m-%d", "zh": "%-m月%-d日"}, timedelta(hours=12), 1),
    "week": (7 * DAY_MS, {"en": "%m-%d", "zh": "%-m月%-d日"}, timedelta(days=3.5), 7),
    "month": ("M1", {"en": "%b %Y", "zh": "%Y年%-m月"}, timedelta(days=15), 30),
}


def _day(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def date_axis(lang: str = DEFAULT_LANGUAGE, points: list[date] | None = None, grain: str = "day") -> dict:
    """Plotly axis settings for a date axis in `lang`; with the `points` drawn (days, or the
    first days of weeks or months: `grain`), a tick on every point when they span up to
    TICK_EVERY_POINT_UP_TO points, and a lone point centred in a range one point wide (else
    Plotly spreads hours over it and labels two ticks per day alike)."""
    axis: dict[str, object] = {
        "type": "date",
        "title": None,
        "tickformatstops": [{"dtickrange": [low, high], "value": value} for value, low, high in _STOPS[lang]],
    }
    shown = sorted({_day(point) for point in points or () if point is not None})
    spacing, formats, half, days = _GRAINS[grain]
    if not shown or (shown[-1] - shown[0]).days // days + 1 > TICK_EVERY_POINT_UP_TO:
        return axis
    # one format for every tick: the stops would not apply to a fixed spacing
    del axis["tickformatstops"]
    axis |= {"dtick": spacing, "tick0": shown[0].isoformat(), "tickformat": formats[lang]}
    if len(shown) == 1:
        middle = datetime.combine(shown[0], time())
        axis["range"] = [(middle - half).isoformat(), (middle + half).isoformat()]
    return axis
