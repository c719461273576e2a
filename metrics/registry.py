"""The named KPIs, said once: what each is, its unit, which way is good, how a ratio is built.

The overview cards, the trend picker, the daily table and (later) alerts and reports look
KPIs up here, so AOV = GMV / orders is written in one place (STYLE 2). Their words, in
every language, are in locales/kpis.toml.
"""

from dataclasses import dataclass

import polars as pl

from shop_analytics.i18n import DEFAULT_LANGUAGE, format_number, text


@dataclass(frozen=True)
class Kpi:
    """A KPI: a measure counted directly, or a ratio of two measures (null when the
    denominator is zero, SPEC section 3)."""

    name: str
    unit: str  # one of UNITS
    higher_is_better: bool
    numerator: str | None = None
    denominator: str | None = None
    reads: tuple[str, ...] = ()
    """The canonical tables its definition reads (SPEC sections 2 and 3): without one of them
    the KPI is not available, which is not the same as zero."""

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None

    def label_in(self, lang: str) -> str:
        return text(f"kpis.{self.name}.label", lang)

    def description_in(self, lang: str) -> str:
        return text(f"kpis.{self.name}.description", lang)

    @property
    def label(self) -> str:
        return self.label_in(DEFAULT_LANGUAGE)

    @property
    def description(self) -> str:
        return self.description_in(DEFAULT_LANGUAGE)


UNITS = ("count", "money", "ratio", "multiple", "hours", "score")

_READ_BY = {
    ("events",): ("dau", "wau", "mau", "active_users", "sessions", "bounced_sessions", "converted_sessions", "mean_dau",
                  "mau_at_end", "stickiness", "bounce_rate", "session_conversion", "visitors", "cart_sessions",
                  "abandoned_carts", "checkout_sessions", "abandoned_checkouts", "cart_abandonment_rate",
                  "checkout_abandonment_rate"),
    ("orders",): ("orders", "buyers", "gmv", "refunds", "net_revenue", "repeat_buyers", "aov", "arppu",
                  "repeat_purchase_rate", "first_time_buyers", "gross_profit", "orders_per_buyer", "new_buyer_orders",
                  "repeat_buyer_orders", "new_buyer_gmv", "repeat_buyer_gmv", "new_buyer_aov", "repeat_buyer_aov",
                  "repurchase_rate_30", "repurchase_rate_90"),
    ("events", "orders"): ("conversion_rate", "arpu", "uv_value", "visitor_conversion"),
    ("events", "products"): ("abandoned_cart_value",),
    ("users",): ("new_users", "user_growth_rate"),
    ("ad_spend",): ("spend", "clicks", "cpc"),
    ("ad_spend", "orders"): ("cac", "roas", "roi"),
    ("tickets",): ("first_response_hours_median", "first_response_hours_p90", "resolution_hours_median",
                   "answered_within_promise_share", "mean_satisfaction"),
    ("tickets", "orders"): ("return_rate",),
}
"""Which tables each KPI reads ("users" for signup: a shop whose users are only the ids of
its events and orders has no signup)."""
_READS = {name: tables for tables, names in _READ_BY.items() for name in names}
"""count: whole numbers; money: in the deployment's currency; ratio: shown as a percentage;
multiple: a ratio read as "times" (ROAS 3.20×); hours: a duration; score: a mean rating."""

KPIS: dict[str, Kpi] = {
    kpi.name: Kpi(kpi.name, kpi.unit, kpi.higher_is_better, kpi.numerator, kpi.denominator, _READS[kpi.name])
    for kpi in (
        Kpi("dau", "count", True),
        Kpi("wau", "count", True),
        Kpi("mau", "count", True),
        Kpi("active_users", "count", True),
        Kpi("new_users", "count", True),
        Kpi("orders", "count", True),
        Kpi("buyers", "count", True),
        Kpi("gmv", "money", True),
        Kpi("refunds", "money", False),
        Kpi("net_revenue", "money", True),
        Kpi("sessions", "count", True),
        Kpi("bounced_sessions", "count", False),
        Kpi("converted_sessions", "count", True),
        Kpi("repeat_buyers", "count", True),
        Kpi("mean_dau", "count", True),
        Kpi("mau_at_end", "count", True),
        Kpi("user_growth_rate", "ratio", True),
        Kpi("conversion_rate", "ratio", True, "buyers", "active_users"),
        Kpi("aov", "money", True, "gmv", "orders"),
        Kpi("arppu", "money", True, "gmv", "buyers"),
        Kpi("arpu", "money", True, "gmv", "active_users"),
        Kpi("repeat_purchase_rate", "ratio", True, "repeat_buyers", "buyers"),
        Kpi("stickiness", "ratio", True, "mean_dau", "mau_at_end"),
        Kpi("bounce_rate", "ratio", False, "bounced_sessions", "sessions"),
        Kpi("session_conversion", "ratio", True, "converted_sessions", "sessions"),
        # channels (SPEC: CPC = spend / clicks, CAC = spend / first-time buyers, ROAS = GMV /
        # spend, ROI = (gross profit - spend) / spend)
        Kpi("spend", "money", False),
        Kpi("clicks", "count", True),
        Kpi("first_time_buyers", "count", True),
        Kpi("gross_profit", "money", True),
        Kpi("cpc", "money", False, "spend", "clicks"),
        Kpi("cac", "money", False, "spend", "first_time_buyers"),
        Kpi("roas", "multiple", True, "gmv", "spend"),
        Kpi("roi", "ratio", True),
        # service (SPEC: first-response time, share answered within 24 h, resolution time,
        # return rate, mean satisfaction)
        Kpi("first_response_hours_median", "hours", False),
        Kpi("first_response_hours_p90", "hours", False),
        Kpi("resolution_hours_median", "hours", False),
        Kpi("answered_within_promise_share", "ratio", True),
        Kpi("return_rate", "ratio", False),
        Kpi("mean_satisfaction", "score", True),
        # visitors and the GMV decomposition (SPEC: GMV = visitors x visitor conversion x
        # orders per buyer x AOV; UV value = GMV / visitors)
        Kpi("visitors", "count", True),
        Kpi("uv_value", "money", True, "gmv", "visitors"),
        Kpi("visitor_conversion", "ratio", True, "buyers", "visitors"),
        Kpi("orders_per_buyer", "multiple", True, "orders", "buyers"),
        # new and repeat orders, repurchase within 30 / 90 days
        Kpi("new_buyer_orders", "count", True),
        Kpi("repeat_buyer_orders", "count", True),
        Kpi("new_buyer_gmv", "money", True),
        Kpi("repeat_buyer_gmv", "money", True),
        Kpi("new_buyer_aov", "money", True, "new_buyer_gmv", "new_buyer_orders"),
        Kpi("repeat_buyer_aov", "money", True, "repeat_buyer_gmv", "repeat_buyer_orders"),
        Kpi("repurchase_rate_30", "ratio", True),
        Kpi("repurchase_rate_90", "ratio", True),
        # cart and checkout abandonment (lower is better)
        Kpi("cart_sessions", "count", True),
        Kpi("abandoned_carts", "count", False),
        Kpi("checkout_sessions", "count", True),
        Kpi("abandoned_checkouts", "count", False),
        Kpi("cart_abandonment_rate", "ratio", False, "abandoned_carts", "cart_sessions"),
        Kpi("checkout_abandonment_rate", "ratio", False, "abandoned_checkouts", "checkout_sessions"),
        Kpi("abandoned_cart_value", "money", False),
    )
}

COLUMN_UNITS = {
    "amount": "money", "discount": "money", "discount_cost": "money", "refund_amount": "money",
    "unit_price": "money", "price": "money", "revenue": "money", "ltv": "money", "expected_value": "money",
    "previous_gmv": "money", "gmv_previous": "money", "gmv_change": "money", "change": "money",
    "margin": "ratio", "ctr": "ratio", "product_conversion": "ratio", "refund_rate": "ratio",
    "share": "ratio", "failure_rate": "ratio", "redemption": "ratio", "conversion": "ratio",
    "conversion_from_previous": "ratio", "conversion_from_first": "ratio", "share_within_24h": "ratio",
    "late_share": "ratio", "search_conversion": "ratio", "relative_change": "ratio", "order_share": "ratio",
    "gmv_share": "ratio", "retention": "ratio", "share_of_change": "ratio",
    "sessions": "count",
    # the decomposition's, the repurchase table's, attribution's and pacing's own columns
    "part": "money", "credit": "money", "eligible_buyers": "count", "repurchased_buyers": "count",
    "pending_buyers": "count", "share_of_orders": "ratio", "share_of_gmv": "ratio", "pace": "ratio",
    "recent_pace": "ratio", "unpriced_cart_products": "count", "abandoned_sessions": "count",
}
"""The units of columns that are not KPIs (an order's amount, a product's CTR, a funnel
step's conversion): with KPIS, what every table, chart, alert and report formats by."""


def unavailable(columns, missing) -> dict[str, tuple[str, ...]]:
    """The KPIs among `columns` that read a table in `missing`, each with those tables."""
    gone = set(missing)
    return {name: tuple(table for table in KPIS[name].reads if table in gone) for name in columns if name in KPIS and gone & set(KPIS[name].reads)}


def unit_of(column: str) -> str | None:
    """The unit of a KPI or known column, None for others (names, dates, labels)."""
    kpi = KPIS.get(column)
    return kpi.unit if kpi is not None else COLUMN_UNITS.get(column)


def ratio(numerator: str, denominator: str) -> pl.Expr:
    """numerator / denominator, null where the denominator is zero or null."""
    return (
        pl.when(pl.col(denominator) > 0)
        .then(pl.col(numerator) / pl.col(denominator))
        .otherwise(None)
        .cast(pl.Float64)
    )


def _ratio_of(name: str) -> pl.Expr:
    kpi = KPIS[name]
    if kpi.numerator is None or kpi.denominator is None:
        raise ValueError(f"{name} is counted directly, not a ratio of two measures: it cannot be added as a ratio")
    return ratio(kpi.numerator, kpi.denominator).alias(name)


def with_ratios(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Add the ratio KPIs `names` to a frame that holds their measures."""
    return frame.with_columns(_ratio_of(name) for name in names)


def basis_words(code: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The GMV basis (口径) `code` ([settings] gmv_basis, metrics.gmv_basis.GmvBasis.code) as
    a reader of `lang` says it: "GMV basis (口径): valid orders (...), amount as recorded"."""
    changes = text("definitions.separator", lang).join(text(f"definitions.changes.{part}", lang) for part in code.split("+"))
    return text("definitions.basis", lang, basis=changes)


def kpi_help(kpi: Kpi, lang: str = DEFAULT_LANGUAGE, basis: str | None = None) -> str:
    """A KPI's one-line definition as a sentence for its help, with the GMV basis it is counted
    under named when it reads orders (SPEC, Definitions: the basis is shown in every KPI's help)."""
    description = kpi.description_in(lang)
    if basis is None or "orders" not in kpi.reads:
        return text("definitions.sentence", lang, description=description)
    return text("definitions.help", lang, description=description, basis=basis_words(basis, lang))


def format_value(kpi: Kpi, value: float | int | None, currency: str = "¥", *, compact: bool = False, lang: str = DEFAULT_LANGUAGE) -> str:
    """The value as a reader of `lang` writes it: money with the currency, ratios as %;
    `compact` shortens large money to fit a card (i18n.format_number)."""
    return format_number(value, kpi.unit, lang, currency, compact=compact)
