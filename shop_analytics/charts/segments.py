"""Segments & LTV charts: RFM segment shares, clusters, tags, the LTV holdout, value deciles,
churn calibration and ROC; and the words for the models' codes (segments, tags, traits,
models) in a language."""

import plotly.graph_objects as go
import polars as pl

from models.ltv import FREQUENCY_GROUP_CAP
from models.tags import CATEGORY_TAG_PREFIX
from shop_analytics.i18n import DEFAULT_LANGUAGE, label, text

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend": {"orientation": "h", "y": -0.2}}
_PREDICTED, _ACTUAL, _OTHER = "#1565c0", "#ef6c00", "#9e9e9e"


def segment_label(segment: str, lang: str = DEFAULT_LANGUAGE) -> str:
    return text(f"segments.segment.{segment}", lang)


def tag_label(tag: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A tag's name: a base tag's words, or "Category: NAME" for a category tag (the category
    in `lang`)."""
    if tag.startswith(CATEGORY_TAG_PREFIX):
        return text("segments.tag.category", lang, category=label("category", tag.removeprefix(CATEGORY_TAG_PREFIX), lang))
    return text(f"segments.tag.{tag}", lang)


def traits_label(traits: list[str], lang: str = DEFAULT_LANGUAGE) -> str:
    """A cluster's traits in words ("recent, frequent, high spend"); "average" when none."""
    return text("segments.trait.joiner", lang).join(text(f"segments.trait.{trait}", lang) for trait in traits) or text("segments.trait.average", lang)


def model_label(model: str, lang: str = DEFAULT_LANGUAGE, **values) -> str:
    return text(f"segments.model.{model}", lang, **values)


def segment_shares(summary: pl.DataFrame, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Each named segment's share of customers beside its share of GMV (`segment_summary`)."""
    rows = summary.reverse()  # first segment at the top
    labels = [segment_label(name, lang) for name in rows["segment"]]
    figure = go.Figure()
    for column, colour in (("customer_share", _OTHER), ("gmv_share", _PREDICTED)):
        shares = rows[column].fill_null(0.0).to_list()
        figure.add_bar(
            y=labels, x=shares, orientation="h", name=text(f"segments.chart.{column}", lang), marker_color=colour,
            text=[f"{share:.0%}" for share in shares], textposition="outside", cliponaxis=False,
        )
    figure.update_layout(**_LAYOUT, barmode="group", height=120 + 42 * rows.height, xaxis={"tickformat": ".0%", "title": None},
                         title=text("segments.chart.shares_title", lang))
    return figure


def cluster_bubbles(clusters: pl.DataFrame, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Clusters by mean days since the last order (across, recent to the right) and mean GMV
    per customer (up), each labelled with its number (its traits in the hover); bubble area =
    customers (`RfmClusters.clusters`)."""
    words = [traits_label(traits, lang) for traits in clusters["traits"].to_list()]
    sizes = clusters["customers"]
    largest = sizes.max()
    if not isinstance(largest, int):  # customers is a whole number per cluster
        raise ValueError("there are no clusters to draw")
    figure = go.Figure(go.Scatter(
        x=clusters["recency_days_mean"].to_list(), y=clusters["monetary_mean"].to_list(), mode="markers+text",
        text=[str(cluster) for cluster in clusters["cluster"]], textposition="top center",
        customdata=list(zip(words, clusters["share"].to_list(), clusters["frequency_mean"].to_list())),
        hovertemplate=text("segments.chart.cluster_hover", lang)
        + f"<br>{text('segments.chart.monetary_mean', lang)}: {currency}%{{y:,.0f}}<extra></extra>",
        marker={"size": sizes.to_list(), "sizemode": "area", "sizeref": 2.0 * largest / 60**2, "sizemin": 8,
                "color": _PREDICTED, "opacity": 0.6, "line": {"width": 1, "color": "#0d47a1"}},
        cliponaxis=False,
    ))
    figure.update_layout(
        **_LAYOUT, height=420, title=text("segments.chart.clusters_title", lang),
        xaxis={"title": text("segments.chart.recency_days", lang), "autorange": "reversed"},
        yaxis={"title": text("segments.chart.monetary_mean", lang), "tickprefix": currency, "rangemode": "tozero"},
    )
    return figure


def tag_bars(counts: pl.DataFrame, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Users per tag (`tag_counts`), the first tag at the top."""
    rows = counts.reverse()
    figure = go.Figure(go.Bar(
        y=[tag_label(tag, lang) for tag in rows["tag"]], x=rows["users"].to_list(), orientation="h", marker_color=_PREDICTED,
        text=[f"{users:,}" for users in rows["users"]], textposition="outside", cliponaxis=False,
    ))
    figure.update_layout(**_LAYOUT, height=100 + 28 * rows.height, xaxis={"title": text("segments.chart.users", lang)})
    return figure


def frequency_holdout(by_frequency: pl.DataFrame, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Mean repeat purchases in the holdout, predicted and actual, by repeat purchases in
    calibration (the last group is FREQUENCY_GROUP_CAP and more), as Fader, Hardie and Lee's figure 4."""
    groups = [f"{value}+" if value == FREQUENCY_GROUP_CAP else str(value) for value in by_frequency["frequency"]]
    figure = go.Figure()
    for column, colour, dash in (("actual_mean", _ACTUAL, "solid"), ("predicted_mean", _PREDICTED, "dash")):
        figure.add_scatter(x=groups, y=by_frequency[column].to_list(), mode="lines+markers", name=text(f"segments.chart.{column}", lang),
                           line={"color": colour, "dash": dash}, customdata=by_frequency["customers"].to_list(),
                           hovertemplate=text("segments.chart.frequency_hover", lang) + "<extra></extra>")
    figure.update_layout(**_LAYOUT, height=340, title=text("segments.chart.frequency_title", lang),
                         xaxis={"title": text("segments.chart.calibration_frequency", lang), "type": "category"},
                         yaxis={"title": text("segments.chart.holdout_purchases", lang), "rangemode": "tozero"})
    return figure


def value_deciles(deciles: pl.DataFrame, model: str, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Customers in ten equal groups by `model`'s predicted holdout GMV: what they spent (bars)
    against what the model predicted (line)."""
    rows = deciles.filter(pl.col("model") == model).sort("decile")
    figure = go.Figure()
    figure.add_bar(x=rows["decile"].to_list(), y=rows["actual_mean"].to_list(), name=text("segments.chart.actual_value", lang), marker_color=_ACTUAL)
    figure.add_scatter(x=rows["decile"].to_list(), y=rows["predicted_mean"].to_list(), mode="lines+markers",
                       name=text("segments.chart.predicted_value", lang), line={"color": _PREDICTED})
    figure.update_layout(**_LAYOUT, height=340, title=text("segments.chart.deciles_title", lang, model=model_label(model, lang)),
                         xaxis={"title": text("segments.chart.decile", lang), "dtick": 1},
                         yaxis={"title": text("segments.chart.value_per_customer", lang), "tickprefix": currency})
    return figure


def churn_calibration(calibration: pl.DataFrame, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Observed churn against the classifier's predicted probability, per band of prediction
    (marker area = customers); on the diagonal the predictions are calibrated."""
    sizes = calibration["customers"]
    largest = sizes.max()
    size_ref = 2.0 * max(largest if isinstance(largest, int) else 1, 1) / 30**2
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": _OTHER, "dash": "dot"}, name=text("segments.chart.perfect", lang), hoverinfo="skip")
    figure.add_scatter(
        x=calibration["predicted_mean"].to_list(), y=calibration["observed_rate"].to_list(), mode="markers+lines",
        name=text("segments.chart.classifier", lang), line={"color": _PREDICTED}, customdata=sizes.to_list(),
        marker={"size": sizes.to_list(), "sizemode": "area", "sizeref": size_ref, "sizemin": 5},
        hovertemplate=text("segments.chart.calibration_hover", lang) + "<extra></extra>",
    )
    figure.update_layout(**_LAYOUT, height=360, title=text("segments.chart.calibration_title", lang),
                         xaxis={"title": text("segments.chart.predicted_churn", lang), "tickformat": ".0%", "range": [0, 1]},
                         yaxis={"title": text("segments.chart.observed_churn", lang), "tickformat": ".0%", "range": [0, 1.02]})
    return figure


def churn_roc(validation: pl.DataFrame, scores: pl.DataFrame, horizon_days: int, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """ROC curves on the churn holdout of the classifier, BG/NBD's P(no purchase) and
    1 - P(alive) (`ChurnRisk.validation`), each named with its AUC."""
    from sklearn.metrics import roc_curve

    auc = dict(zip(scores["model"], scores["roc_auc"]))
    rows = validation.drop_nulls()
    churned = rows["churned"].to_numpy()
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": _OTHER, "dash": "dot"}, showlegend=False, hoverinfo="skip")
    for model, score, colour in (
        ("gradient_boosting", rows["churn_probability"], _PREDICTED),
        ("bgnbd_no_purchase", rows["bgnbd_no_purchase"], _ACTUAL),
        ("bgnbd_1_minus_p_alive", 1 - rows["p_alive"], _OTHER),
    ):
        false_rate, true_rate, _ = roc_curve(churned, score.to_numpy())
        name = f"{model_label(model, lang, days=horizon_days)} (AUC {auc[model]:.3f})"
        figure.add_scatter(x=false_rate, y=true_rate, mode="lines", name=name, line={"color": colour})
    figure.update_layout(**_LAYOUT, height=460, title=text("segments.chart.roc_title", lang),
                         xaxis={"title": text("segments.chart.false_positive", lang), "range": [0, 1]},
                         yaxis={"title": text("segments.chart.true_positive", lang), "range": [0, 1.02]})
    figure.update_layout(legend={"orientation": "h", "x": 0, "y": -0.22, "yanchor": "top"})
    return figure
