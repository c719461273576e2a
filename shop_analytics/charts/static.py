"""The report's charts as PNG images drawn by matplotlib (the PDF's backend of
`charts.report.ChartSpec`): in the process, without a browser, so a PDF never waits on one.

Chinese text needs a CJK font. The first of CJK_FAMILIES that matplotlib finds on the machine
is put first in the sans-serif list (matplotlib falls back to the next family glyph by glyph);
with none, the images are still drawn, Chinese as empty boxes, and `missing_font_notice`
says which package to install.
"""

import io
import threading
import warnings
from datetime import date, datetime

from matplotlib import font_manager
from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator

from shop_analytics.charts.report import (
    BAD,
    COUNT,
    DAY,
    HBAR,
    LINE,
    OFFSET,
    Axis,
    ChartSpec,
    Heatmap,
    Panel,
    value_text,
)

# Free CJK fonts a Linux machine may have (Debian packages fonts-wqy-microhei,
# fonts-noto-cjk), then the ones macOS and Windows ship.
CJK_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "PingFang SC",
                "Microsoft YaHei", "SimHei")
# Font files of those families that matplotlib's cache may not know yet (installed after the
# cache was built): looked for among the machine's fonts once.
CJK_FILES = ("wqy-microhei.ttc", "NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "SourceHanSansSC-Regular.otf")
FONT_PACKAGE = "fonts-wqy-microhei"
MISSING_FONT = f"no CJK font found, so Chinese text in the PDF shows as boxes: install one with apt-get install {FONT_PACKAGE}"
# The PDF's text column is A4 less its margins, 186 mm: images are drawn at that width and
# at print resolution, so their text has the size written here on paper.
WIDTH_INCHES = 7.3
DPI = 150
PIXELS_PER_INCH_OF_HTML = 110  # a spec's height is in HTML pixels at about 800 px across
FONT_SIZE = 8

# matplotlib's drawing state (its font cache, the text layout engine) is shared by the
# process: one image at a time, whichever thread (a page, the scheduler) asks.
_drawing = threading.Lock()
_font: list[str | None] = []


def _has_cjk(words: str) -> bool:
    return any("\u2e80" <= character <= "\u9fff" or "\uff00" <= character <= "\uffef" for character in words)


def cjk_font() -> str | None:
    """The family of a CJK font matplotlib can use, or None; looked up once per process."""
    if _font:
        return _font[0]
    known = {entry.name for entry in font_manager.fontManager.ttflist}
    if not any(family in known for family in CJK_FAMILIES):
        for path in font_manager.findSystemFonts():
            if path.rsplit("/", 1)[-1] in CJK_FILES:
                font_manager.fontManager.addfont(path)
        known = {entry.name for entry in font_manager.fontManager.ttflist}
    _font.append(next((family for family in CJK_FAMILIES if family in known), None))
    return _font[0]


def missing_font_notice(specs: list[ChartSpec]) -> str | None:
    """One line saying which package to install, when a chart has Chinese text and the
    machine has no CJK font; None otherwise."""
    if cjk_font() is None and any(_has_cjk(word) for spec in specs for word in spec.words()):
        return MISSING_FONT
    return None


def _style() -> dict:
    # The families themselves, not "sans-serif": each text keeps them when drawn later.
    families = [family for family in (cjk_font(), "DejaVu Sans") if family]
    return {"font.family": families, "axes.unicode_minus": False, "font.size": FONT_SIZE}


class _UnitFormatter(Formatter):
    """Tick labels in the axis's unit (`value_text`), with the axis's decimals or as many more
    as the ticks need to read apart (ticks 0.5 apart on a money axis show ¥0.50, not ¥0 and ¥1)."""

    MOST_DECIMALS = 4

    def __init__(self, axis: Axis, currency: str):
        self.shown, self.currency, self.decimals = axis, currency, axis.decimals

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        scale = 100 if self.shown.unit == "ratio" else 1
        self.decimals = next(
            (decimals for decimals in range(self.shown.decimals, self.MOST_DECIMALS + 1)
             if all(abs(round(value * scale, decimals) - value * scale) < 1e-9 for value in locs)),
            self.MOST_DECIMALS,
        )

    def __call__(self, value, position=None) -> str:
        return value_text(value, self.shown.unit, self.currency, self.decimals)


def _format_axis(axis_object, axis: Axis, currency: str) -> None:
    """Ticks in the axis's unit, with the same words as the bars and the HTML's axes; whole
    ticks for counts and periods."""
    if axis.unit == DAY:
        axis_object.set_major_locator(AutoDateLocator(minticks=2, maxticks=8))
        axis_object.set_major_formatter(DateFormatter("%m-%d"))
    elif axis.unit in (OFFSET, COUNT):
        axis_object.set_major_locator(MaxNLocator(nbins=5, integer=True))
        if axis.unit == COUNT:
            axis_object.set_major_formatter(_UnitFormatter(axis, currency))
    elif axis.unit != "category":
        axis_object.set_major_locator(MaxNLocator(nbins=5))
        axis_object.set_major_formatter(_UnitFormatter(axis, currency))


def _positions(values: tuple, axis: Axis) -> list:
    if axis.unit == DAY:
        return [date2num(datetime(value.year, value.month, value.day) if isinstance(value, date) else value) for value in values]
    return list(values)


def _label_bars(axes, bars, labels: tuple[str, ...], horizontal: bool) -> None:
    """Each bar's value at its end, outside it; the value axis is widened so that no label
    is cut at the plot's edge."""
    if not labels:
        return
    axes.bar_label(bars, labels=list(labels), padding=2, fontsize=FONT_SIZE - 1)
    if horizontal:
        axes.margins(x=0.22)
    else:
        axes.margins(y=0.18)


def _draw_panel(axes, panel: Panel, currency: str) -> None:
    for series in panel.series:
        if series.style == LINE:
            x = _positions(series.x, panel.x)
            axes.plot(x, [float("nan") if value is None else value for value in series.y], marker="o", markersize=3,
                      linewidth=1.5, color=series.colors[0], label=series.name)
        elif series.style == HBAR:
            values = [0.0 if value is None else value for value in series.x]
            bars = axes.barh(list(range(len(series.y))), values, color=list(series.colors), height=0.6)
            axes.set_yticks(list(range(len(series.y))), labels=[str(name) for name in series.y])
            _label_bars(axes, bars, series.labels, horizontal=True)
            axes.axvline(0, color="#9e9e9e", linewidth=0.8)
        else:
            values = [0.0 if value is None else value for value in series.y]
            if panel.x.unit == DAY:
                bars = axes.bar(_positions(series.x, panel.x), values, color=list(series.colors), width=0.7)
            else:
                bars = axes.bar(list(range(len(series.x))), values, color=list(series.colors), width=0.6)
                axes.set_xticks(list(range(len(series.x))), labels=[str(name) for name in series.x], rotation=20, ha="right")
            _label_bars(axes, bars, series.labels, horizontal=False)
    if panel.target is not None:
        axes.axhline(panel.target, color=BAD, linestyle="--", linewidth=1)
    value_axis = panel.x if any(series.style == HBAR for series in panel.series) else panel.y
    if panel.y.from_zero and value_axis is panel.y:
        low, high = axes.get_ylim()
        axes.set_ylim(min(0.0, low), max(high, 0.0))
    _format_axis(axes.xaxis, panel.x, currency)
    _format_axis(axes.yaxis, panel.y, currency)
    axes.set_xlabel(panel.x.title)
    axes.set_ylabel(panel.y.title)
    axes.grid(axis="x" if value_axis is panel.x else "y", color="#e0e0e0", linewidth=0.6)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    if panel.legend:
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=min(len(panel.series), 6), frameon=False)


def _draw_heatmap(axes, panel: Heatmap) -> None:
    grid = [[float("nan") if value is None else value for value in row] for row in panel.values]
    if grid and grid[0]:
        axes.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for row, labels in enumerate(panel.labels):
            for column, label in enumerate(labels):
                value = panel.values[row][column]
                axes.text(column, row, label, ha="center", va="center", fontsize=FONT_SIZE - 1,
                          color="white" if value is not None and value > 0.6 else "#212121")
    axes.set_xticks(list(range(len(panel.columns))), labels=[str(column) for column in panel.columns])
    axes.set_yticks(list(range(len(panel.rows))), labels=list(panel.rows))
    axes.set_xlabel(panel.x.title)
    axes.spines[:].set_visible(False)


def draw(spec: ChartSpec) -> Figure:
    """The spec as a matplotlib figure, WIDTH_INCHES across, laid out so that no tick label,
    bar label or legend is cut (constrained layout)."""
    import matplotlib

    with matplotlib.rc_context(_style()):
        return _draw(spec)


def _draw(spec: ChartSpec) -> Figure:
    rows = (len(spec.panels) + spec.columns - 1) // spec.columns
    figure = Figure(figsize=(WIDTH_INCHES, max(spec.height / PIXELS_PER_INCH_OF_HTML, 1.8)), dpi=DPI, layout="constrained")
    grid = figure.subplots(rows, spec.columns, squeeze=False)
    for position, axes in enumerate(grid.flat):
        if position >= len(spec.panels):
            axes.set_visible(False)
            continue
        panel = spec.panels[position]
        axes.set_title(panel.title, fontsize=FONT_SIZE + 1, loc="left")
        if isinstance(panel, Heatmap):
            _draw_heatmap(axes, panel)
        else:
            _draw_panel(axes, panel, spec.currency)
    if spec.title:
        figure.suptitle(spec.title, fontsize=FONT_SIZE + 2)
    return figure


def png(spec: ChartSpec) -> bytes:
    """The spec as a PNG image at DPI (for the PDF)."""
    import matplotlib

    with _drawing, matplotlib.rc_context(_style()), warnings.catch_warnings():
        # Without a CJK font each Chinese glyph would warn; the notice says it once.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure = draw(spec)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()
