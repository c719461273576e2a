"""Explore charts: a one-dimension pivot as bars, a two-dimension pivot as a heatmap; every
bar and cell clickable, with the cell's dimension values as `customdata`."""

import plotly.graph_objects as go
import polars as pl

from metrics.explore import VALUE
from shop_analytics.i18n import DEFAULT_LANGUAGE, VALUE_KINDS, label

_MAX_LABELLED_COLUMNS = 12


def _hover_number(unit: str, currency: str) -> str:
    return f"{currency}%{{customdata[2]:,.2f}}" if unit == "money" else "%{customdata[2]:,}"


def _names(long: pl.DataFrame, dimension: str, lang: str) -> list[str]:
    """The values of `dimension` in `long` as a reader of `lang` says them."""
    kind = VALUE_KINDS.get(dimension, dimension)
    return [label(kind, value, lang) for value in long[dimension]]


def pivot_bars(long: pl.DataFrame, measure_label: str, unit: str, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Bars of a one-dimension pivot (`metrics.explore.pivot`), largest first, named in
    `lang`; `customdata` is [value of the dimension, "", the measure]."""
    dimension = long.columns[0]
    ordered = long.sort(VALUE, dimension, descending=[True, False])
    figure = go.Figure(
        go.Bar(
            x=_names(ordered, dimension, lang),
            y=ordered[VALUE].to_list(),
            customdata=[[value, "", measure] for value, measure in ordered.select(dimension, VALUE).iter_rows()],
            hovertemplate=f"%{{x}}<br>{measure_label}: {_hover_number(unit, currency)}<extra></extra>",
            marker_color="#4C78A8",
        )
    )
    figure.update_layout(
        height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10}, clickmode="event+select",
        yaxis={"title": measure_label, "tickformat": ",.0f"}, xaxis={"type": "category", "automargin": True},
    )
    return figure


def pivot_heatmap(
    long: pl.DataFrame, dimension_labels: tuple[str, str], measure_label: str, unit: str, currency: str = "¥",
    lang: str = DEFAULT_LANGUAGE,
) -> go.Figure:
    """A two-dimension pivot as a heatmap: the first dimension down, the second across,
    named in the hover by `dimension_labels`, their values in `lang`.

    Plotly's heatmap cannot be selected, so each cell carries an invisible square marker on
    top of it that can; its `customdata` is [row value, column value, the measure]."""
    rows, columns = long.columns[:2]
    row_values = long[rows].unique(maintain_order=True).to_list()
    column_values = long[columns].unique(maintain_order=True).to_list()
    wide = long.pivot(on=columns, index=rows, values=VALUE, sort_columns=False).select(rows, *column_values)
    row_kind, column_kind = VALUE_KINDS.get(rows, rows), VALUE_KINDS.get(columns, columns)
    figure = go.Figure(
        go.Heatmap(
            z=wide.select(column_values).rows(), x=[label(column_kind, value, lang) for value in column_values],
            y=[label(row_kind, value, lang) for value in row_values],
            colorscale="Blues", hoverinfo="skip", colorbar={"title": {"text": measure_label, "side": "right"}, "thickness": 12},
            # Numbers in the cells while they fit; the hover gives them always.
            texttemplate="%{z:,.0f}" if len(column_values) <= _MAX_LABELLED_COLUMNS else None, textfont={"size": 11},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=_names(long, columns, lang), y=_names(long, rows, lang), mode="markers",
            # Invisible until clicked: then an outline marks the chosen cell.
            marker={"symbol": "square-open", "size": 26, "opacity": 0, "color": "#222222", "line": {"width": 2}},
            selected={"marker": {"opacity": 1}}, unselected={"marker": {"opacity": 0}},
            customdata=long.select(rows, columns, VALUE).rows(),
            hovertemplate=f"{dimension_labels[0]}: %{{y}}<br>{dimension_labels[1]}: %{{x}}<br>{measure_label}: {_hover_number(unit, currency)}<extra></extra>",
            showlegend=False,
        )
    )
    figure.update_layout(
        height=max(320, 34 * len(row_values) + 120), margin={"l": 10, "r": 10, "t": 10, "b": 10}, clickmode="event+select",
        xaxis={"type": "category", "automargin": True}, yaxis={"type": "category", "automargin": True, "autorange": "reversed"},
    )
    return figure
