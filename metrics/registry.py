"""The named KPIs, said once: what each is, its unit, which way is good, how a ratio is built.

The overview cards, the trend picker, the daily table and (later) alerts and reports look
KPIs up here, so AOV = GMV / orders is written in one place (STYLE 2).
"""

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Kpi:
    """A KPI: a measure counted directly, or a ratio of two measures (null when the
    denominator is zero, SPEC section 3)."""

    name: str
    label: str
    unit: str  # "count", "money" or "ratio"
    higher_is_better: bool
    description: str
    numerator: str | None = None
    denominator: str | None = None

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None


KPIS: dict[str, Kpi] = {
    kpi.name: kpi
    for kpi in (
        Kpi("dau", "DAU", "count", True, "users with at least one event on the day"),
        Kpi("wau", "WAU", "count", True, "distinct users active in the 7 days ending on the day"),
        Kpi("mau", "MAU", "count", True, "distinct users active in the 30 days ending on the day"),
        Kpi("active_users", "Active users", "count", True, "distinct users with an event in the period"),
        Kpi("new_users", "New users", "count", True, "users who signed up"),
        Kpi("orders", "Orders", "count", True, "valid orders (paid, shipped, completed, refunded)"),
        Kpi("buyers", "Buyers", "count", True, "distinct users with a valid order"),
        Kpi("gmv", "GMV", "money", True, "sum of the amount of valid orders"),
        Kpi("refunds", "Refunds", "money", False, "refunded money, on the day of the refund"),
        Kpi("net_revenue", "Net revenue", "money", True, "GMV - refunds"),
        Kpi("sessions", "Sessions", "count", True, "sessions started (30-minute rule)"),
        Kpi("bounced_sessions", "Bounced sessions", "count", False, "sessions with exactly one event"),
        Kpi("converted_sessions", "Converting sessions", "count", True, "sessions with a purchase event"),
        Kpi("repeat_buyers", "Repeat buyers", "count", True, "buyers with at least 2 valid orders in the period"),
        Kpi("mean_dau", "Mean DAU", "count", True, "DAU averaged over the period's days"),
        Kpi("mau_at_end", "MAU at period end", "count", True, "distinct users active in the 30 days ending on the period's last day"),
        Kpi("user_growth_rate", "User growth", "ratio", True, "registered users at the period's end / at its start - 1"),
        Kpi("conversion_rate", "Conversion rate", "ratio", True, "buyers / active users", "buyers", "active_users"),
        Kpi("aov", "AOV (客单价)", "money", True, "GMV / orders", "gmv", "orders"),
        Kpi("arppu", "ARPPU", "money", True, "GMV / buyers", "gmv", "buyers"),
        Kpi("arpu", "ARPU", "money", True, "GMV / active users", "gmv", "active_users"),
        Kpi("repeat_purchase_rate", "Repeat purchase rate", "ratio", True, "buyers with at least 2 valid orders / buyers", "repeat_buyers", "buyers"),
        Kpi("stickiness", "Stickiness (DAU/MAU)", "ratio", True, "mean DAU over the period / MAU at its last day", "mean_dau", "mau_at_end"),
        Kpi("bounce_rate", "Bounce rate", "ratio", False, "sessions with exactly one event / sessions", "bounced_sessions", "sessions"),
        Kpi("session_conversion", "Session conversion", "ratio", True, "sessions with a purchase / sessions", "converted_sessions", "sessions"),
    )
}


def ratio(numerator: str, denominator: str) -> pl.Expr:
    """numerator / denominator, null where the denominator is zero or null."""
    return (
        pl.when(pl.col(denominator) > 0)
        .then(pl.col(numerator) / pl.col(denominator))
        .otherwise(None)
        .cast(pl.Float64)
    )


def with_ratios(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Add the ratio KPIs `names` to a frame that holds their measures."""
    return frame.with_columns(
        ratio(KPIS[name].numerator, KPIS[name].denominator).alias(name) for name in names
    )


_COMPACT_STEPS = ((1e9, "B"), (1e6, "M"), (1e3, "K"))


def format_value(kpi: Kpi, value: float | int | None, currency: str = "¥", *, compact: bool = False) -> str:
    """The value as a person reads it: money with the currency, ratios as %.

    `compact` shortens money of 100,000 and more to three significant decimals with K/M/B,
    so that it fits a card (¥535.96K); the exact value goes in the card's help.
    """
    if value is None:
        return "–"
    if kpi.unit == "ratio":
        return f"{value:.2%}"
    if kpi.unit == "money":
        sign = "-" if value < 0 else ""
        if compact and abs(value) >= 1e5:
            size, suffix = next((size, suffix) for size, suffix in _COMPACT_STEPS if abs(value) >= size)
            return f"{sign}{currency}{abs(value) / size:,.2f}{suffix}"
        return f"{sign}{currency}{abs(value):,.2f}"
    return f"{value:,.0f}"
