"""Attribution models side by side: each channel's GMV under each model."""

import plotly.graph_objects as go
import polars as pl

from shop_analytics.i18n import DEFAULT_LANGUAGE, label, text


def models_side_by_side(models: pl.DataFrame, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Grouped bars: per channel, its GMV under each attribution model (rows of
    metrics.attribution.compare_attribution_models), channels in the first model's order and
    named in `lang`."""
    channels = models.filter(pl.col("model") == models["model"][0])["channel"].to_list() if models.height else []
    figure = go.Figure()
    for (model,), rows in models.group_by("model", maintain_order=True):
        credited = dict(zip(rows["channel"], rows["gmv"]))
        name = text(f"channels.model_{model}", lang)
        figure.add_bar(
            x=[label("channel", channel, lang) for channel in channels], y=[credited.get(channel, 0.0) for channel in channels], name=name,
            hovertemplate=f"{name}<br>%{{x}}: {currency}%{{y:,.2f}}<extra></extra>",
        )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=360, barmode="group", legend={"orientation": "h", "y": 1.12},
        yaxis={"title": f"GMV ({currency})", "tickformat": ",.0f"},
    )
    return figure
