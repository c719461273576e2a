"""Campaign charts: ROI per campaign against its target, and a campaign's before/after."""

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from metrics.compare import MEASURES
from shop_analytics.i18n import DEFAULT_LANGUAGE, format_number, text

_BELOW_TARGET, _ON_TARGET = "#E45756", "#4C78A8"
_BASELINE, _CAMPAIGN = "#BAB0AC", "#4C78A8"
# How each before/after measure is written: its unit in i18n.format_number.
MEASURE_UNITS = {"conversion_rate": "ratio", "session_conversion": "ratio", "aov": "money", "gmv_per_day": "money"}


def roi_bars(table: pl.DataFrame, roi_target: float, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """One bar per campaign of `metrics.campaigns.campaign_table` with its ROI, red when
    below `roi_target`, and the target as a dashed line. `customdata` holds the
    campaign_id, for click handling."""
    hover = [
        text("campaigns.bar_hover", lang, name=row["name"], spend=format_number(row["spend"], "money", lang, currency),
             gmv=format_number(row["gmv"], "money", lang, currency), roi=format_number(row["roi"], "ratio", lang))
        for row in table.iter_rows(named=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=table["name"].to_list(),
            y=table["roi"].to_list(),
            customdata=table["campaign_id"].to_list(),
            marker_color=[_BELOW_TARGET if below else _ON_TARGET for below in table["roi_below_target"].fill_null(False)],
            # A few campaigns get narrow bars rather than one that fills the chart.
            width=min(0.8, 0.25 * table.height),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    figure.add_hline(
        y=roi_target, line_dash="dash", line_color=_BELOW_TARGET,
        annotation_text=text("campaigns.roi_target_line", lang, target=f"{roi_target:.0%}"), annotation_position="top left",
    )
    figure.update_layout(
        title=text("campaigns.roi_title", lang), height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis={"title": text("campaigns.roi_axis", lang), "tickformat": ".0%"}, xaxis={"automargin": True},
        clickmode="event+select", showlegend=False,
    )
    return figure


def effect_chart(comparison: pl.DataFrame, currency: str = "¥", lang: str = DEFAULT_LANGUAGE, confidence: float = 0.95) -> go.Figure:
    """Each measure of `metrics.compare.before_after` as two bars, baseline and campaign;
    the campaign's bar carries the confidence interval of the change, drawn from the
    baseline (before + ci_low to before + ci_high): where the campaign's value may lie."""
    rows = {row["measure"]: row for row in comparison.iter_rows(named=True)}
    titles = [text(f"campaigns.measure.{measure}", lang) for measure in MEASURES]
    figure = make_subplots(rows=2, cols=2, subplot_titles=titles, vertical_spacing=0.2, horizontal_spacing=0.12)
    sides = [text("campaigns.before", lang), text("campaigns.after", lang)]
    for index, measure in enumerate(MEASURES):
        row = rows[measure]
        before, after = row["before"], row["after"]
        has_interval = None not in (before, after, row["ci_low"], row["ci_high"])
        unit = MEASURE_UNITS[measure]
        for side, value, colour in ((sides[0], before, _BASELINE), (sides[1], after, _CAMPAIGN)):
            error = None
            if side == sides[1] and has_interval:
                error = {
                    "type": "data", "symmetric": False, "array": [before + row["ci_high"] - after],
                    "arrayminus": [after - before - row["ci_low"]], "color": "#333333", "thickness": 1.5, "width": 8,
                }
            figure.add_trace(
                go.Bar(
                    x=[side], y=[value], marker_color=colour, error_y=error, text=[format_number(value, unit, lang, currency)],
                    textposition="inside", insidetextanchor="middle", hovertemplate="%{x}: %{text}<extra></extra>", showlegend=False,
                ),
                row=index // 2 + 1, col=index % 2 + 1,
            )
        figure.update_yaxes(tickformat=".1%" if unit == "ratio" else ",.0f", rangemode="tozero", row=index // 2 + 1, col=index % 2 + 1)
    figure.update_layout(height=520, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure
