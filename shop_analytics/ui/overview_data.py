"""The Overview's choices (the KPIs of its cards and its trend, the periods it compares with)
and its opening view computed ahead: at the server's start (ui/serve.py) the cached results
the page reads for the filters a session opens on are computed once, so that a cold server's
first visitor (and the first use of "compare with") finds them in the cache (issue 21)."""

from metrics.kpis import DAILY_COLUMNS
from metrics.periods import COMPARISONS
from shop_analytics.loading import Shop
from shop_analytics.ui import data, filters

CARD_KPIS = ("gmv", "net_revenue", "orders", "aov", "buyers", "active_users", "conversion_rate", "sessions", "bounce_rate", "session_conversion")
TREND_KPIS = tuple(name for name in DAILY_COLUMNS if name != "date")
COMPARED_WITH = COMPARISONS
"""The periods the cards and the GMV decomposition compare with; the first is the default."""


def prepare_opening_view(shop: Shop, tz: str) -> None:
    """Compute the Overview's cached results for the filters a session opens on
    (filters.opening): the same cached functions of ui.data, with the same arguments, as
    pages/overview.py calls them with its default controls, and the GMV decomposition against
    each period it may compare with (tests/test_serve.py checks that such a first run computes
    nothing). Nothing for a shop without activity."""
    chosen = filters.opening(shop, tz)
    if chosen is None:
        return
    key = data.source_key()
    args = (key, chosen.start, chosen.end, chosen.tz, chosen.segment)
    data.recent_alerts(key, chosen.end, chosen.tz, chosen.segment)
    data.period_cut(*args[:4])
    data.period_comparison(*args)
    data.card_bands(*args, CARD_KPIS)
    data.daily_kpis(*args)
    data.trend_band(*args, TREND_KPIS[0])
    for compared_with in COMPARED_WITH:
        data.gmv_decomposition(*args, compared_with)
    data.repeat_orders(*args)
