"""Funnel charts."""

import plotly.graph_objects as go
import polars as pl

from shop_analytics.i18n import DEFAULT_LANGUAGE, VALUE_KINDS, label, text


def funnel_bars(table: pl.DataFrame, breakdown: str | None = None, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Users per step as bars, labelled with the conversion from the first step; one bar
    group per breakdown value when there is one; event names and breakdown values in `lang`.
    `customdata` holds the step number."""
    figure = go.Figure()
    groups = table.group_by(breakdown, maintain_order=True) if breakdown else [((None,), table)]
    for (value,), rows in groups:
        labels = [f"{row['step']}. {label('event', row['event'], lang)}" for row in rows.iter_rows(named=True)]
        figure.add_bar(
            x=labels,
            y=rows["users"].to_list(),
            name=text("charts.users", lang) if breakdown is None or value is None else label(VALUE_KINDS.get(breakdown, breakdown), value, lang),
            customdata=rows["step"].to_list(),
            text=[
                f"{users:,}<br>{'' if share is None else f'{share:.1%}'}"
                for users, share in zip(rows["users"], rows["conversion_from_first"])
            ],
            textposition="outside",
            hovertemplate=text("charts.users_hover", lang) + "<extra></extra>",
        )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        height=380,
        barmode="group",
        yaxis={"title": text("charts.users", lang)},
        clickmode="event+select",
        showlegend=breakdown is not None,
    )
    return figure
