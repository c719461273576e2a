"""User path charts: the Sankey of the top paths."""

import plotly.graph_objects as go
import polars as pl

from metrics.paths import ENTRANCE, EXIT, OTHER
from shop_analytics.i18n import DEFAULT_LANGUAGE, text

_PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#EECA3B", "#9D755D", "#FF9DA6", "#BAB0AC")
_SPECIAL_COLOURS = {EXIT: "#C9C9C9", ENTRANCE: "#C9C9C9", OTHER: "#DDDDDD"}
# Room kept free between the nodes of a column, as a share of the chart's height.
_GAP = 0.04


def _colour(label: str, labels: list[str]) -> str:
    return _SPECIAL_COLOURS.get(label) or _PALETTE[labels.index(label) % len(_PALETTE)]


def _positions(nodes: pl.DataFrame) -> tuple[list[float], list[float]]:
    """Each node's centre: its step's column across, stacked by the node order down, so that
    a path that begins late (from "entrance") still sits in its own step's column."""
    last_step = nodes["step"].max()
    depth = max(last_step if isinstance(last_step, int) else 1, 2)
    xs, ys = [], []
    for (step,), column in nodes.group_by("step", maintain_order=True):
        total = column["sessions"].sum()
        room = 1 - _GAP * (column.height - 1)
        top = 0.0
        for sessions in column["sessions"]:
            height = room * sessions / total
            xs.append(min(max((step - 1) / (depth - 1), 0.001), 0.999))
            ys.append(min(max(top + height / 2, 0.001), 0.999))
            top += height + _GAP
    return xs, ys


def path_sankey(
    nodes: pl.DataFrame, links: pl.DataFrame, names: dict[str, str], lang: str = DEFAULT_LANGUAGE,
    focus: tuple[int, str] | None = None,
) -> go.Figure:
    """The Sankey of `metrics.paths.path_flows`' nodes and links: steps left to right, each
    page in its own colour, exits, entrances and grouped branches in grey, the special nodes'
    names from `names` (their words in `lang`). The `focus` node (step, label) is outlined
    and its links darkened. `customdata` of a node is [step, label]."""
    labels = sorted(set(nodes["label"]) - set(_SPECIAL_COLOURS))
    xs, ys = _positions(nodes)
    focused = [(step, label) == focus for step, label in zip(nodes["step"], nodes["label"])]
    shown = [names.get(label, label) for label in nodes["label"]]
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": shown,
                "x": xs,
                "y": ys,
                "pad": 12,
                "thickness": 16,
                "color": [_colour(label, labels) for label in nodes["label"]],
                "line": {"color": ["#222222" if hit else "#FFFFFF" for hit in focused], "width": [3 if hit else 0.5 for hit in focused]},
                "customdata": [[step, label] for step, label in zip(nodes["step"], nodes["label"])],
                "hovertemplate": text("paths.node_hover", lang, step="%{customdata[0]}", label="%{label}", sessions="%{value:,}") + "<extra></extra>",
            },
            link={
                "source": links["source"].to_list(),
                "target": links["target"].to_list(),
                "value": links["sessions"].to_list(),
                "color": [
                    "rgba(34,34,34,0.45)" if focused[source] or focused[target]
                    else "rgba(200,200,200,0.45)" if nodes["label"][target] in _SPECIAL_COLOURS
                    else "rgba(76,120,168,0.25)"
                    for source, target in zip(links["source"], links["target"])
                ],
                "hovertemplate": text("paths.link_hover", lang, source="%{source.label}", target="%{target.label}", sessions="%{value:,}") + "<extra></extra>",
            },
        )
    )
    figure.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=460, font={"size": 12})
    return figure
