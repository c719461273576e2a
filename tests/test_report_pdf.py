"""The report's PDF needs no browser: its charts are drawn by matplotlib from the same chart
specs the HTML's Plotly figures come from. Checked on the drawn figures (both backends show
the same numbers, no text is cut at the image's edge, the LTV lines are told apart), and end
to end: `cli.py report --format pdf` with the browser made unreachable writes a Chinese PDF
with its charts within a minute, and without a CJK font still writes it and says in one line
which package to install."""

import io
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from pdf_text import pdf_pages_text
from pypdf import PdfReader

from shop_analytics.charts.report import (
    PALETTE,
    Heatmap,
    channel_targets,
    gmv_change_by_channel,
    kpi_trends,
    ltv_lines,
    plotly_figure,
    retention_heatmap,
    value_text,
)
from shop_analytics.charts.static import CJK_FAMILIES, FONT_PACKAGE, cjk_font, draw, png
from shop_analytics.config import Settings
from shop_analytics.reports.content import build_report
from shop_analytics.reports.document import TREND_KPIS
from shop_analytics.reports.tables import report_tables

ROOT = Path(__file__).resolve().parents[1]
WEEK_DAY = date(2026, 11, 18)
BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium", "/usr/bin/google-chrome")


@pytest.fixture(scope="module")
def report(small_shop):
    return build_report(small_shop, kind="week", day=WEEK_DAY, lang="zh", settings=Settings())


@pytest.fixture(scope="module")
def specs(report):
    """Every chart of the Chinese report, as the document draws them."""
    channels = report_tables(report)["channels"].frame
    return {
        "trends": kpi_trends(report.daily, TREND_KPIS, "¥", "zh"),
        "channel_targets": channel_targets(channels, 0.05, 1.0, "¥", "zh"),
        "gmv_change": gmv_change_by_channel(channels, "¥", "zh"),
        "retention": retention_heatmap(report.retention, "week", "zh", "¥"),
        "ltv": ltv_lines(report.ltv, "¥", "zh"),
    }


def test_value_text_writes_money_with_separators_and_the_sign_before_the_currency():
    assert value_text(1234567.891, "money", "¥") == "¥1,234,568"
    assert value_text(-56.2, "money", "¥", 2) == "-¥56.20"
    assert value_text(0.1234, "ratio", "¥", 1) == "12.3%"
    assert value_text(12345, "count", "¥") == "12,345"
    assert value_text(None, "money", "¥") == ""


def test_both_backends_draw_the_same_numbers(specs, report):
    trends = specs["trends"]
    figure = plotly_figure(trends)
    gmv_trace = figure.data[0]
    assert list(gmv_trace.y) == report.daily["gmv"].to_list() == list(trends.panels[0].series[0].y)
    drawn = draw(trends)
    gmv_axes = drawn.axes[0]
    assert [bar.get_height() for bar in gmv_axes.patches] == pytest.approx(report.daily["gmv"].to_list())
    targets = specs["channel_targets"]
    roi = targets.panels[0].series[0]
    assert list(plotly_figure(targets).data[0].y) == list(roi.y)
    assert [bar.get_height() for bar in draw(targets).axes[0].patches] == pytest.approx([value or 0.0 for value in roi.y])
    # A bar that misses its target is red in both.
    assert list(plotly_figure(targets).data[0].marker.color) == list(roi.colors)


@pytest.mark.parametrize("name", ["trends", "channel_targets", "gmv_change", "retention", "ltv"])
def test_no_text_is_cut_at_the_images_edge(name, specs):
    """Everything drawn (tick labels of money axes and the ROI axis, bar labels, titles,
    legends) lies inside the image."""
    figure = draw(specs[name])
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    drawn = figure.get_tightbbox(canvas.get_renderer())  # inches, around every drawn artist
    width, height = figure.get_size_inches()
    assert drawn.x0 >= 0 and drawn.y0 >= 0 and drawn.x1 <= width and drawn.y1 <= height, (name, drawn, width, height)
    labels = [text for axes in figure.axes for text in axes.texts]
    for text in labels:
        box = text.get_window_extent(canvas.get_renderer()).transformed(figure.dpi_scale_trans.inverted())
        assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, (name, text.get_text())


def test_axes_and_bars_read_in_their_units(specs, report):
    figure = draw(specs["channel_targets"])
    FigureCanvasAgg(figure).draw()
    roi_axes, cpc_axes = figure.axes
    roi_ticks = [label.get_text() for label in roi_axes.get_yticklabels()]
    assert roi_ticks and all(tick.endswith("%") for tick in roi_ticks)
    cpc_ticks = [label.get_text() for label in cpc_axes.get_yticklabels()]
    assert cpc_ticks and all(tick.startswith("¥") or tick.startswith("-¥") for tick in cpc_ticks)
    assert len(set(cpc_ticks)) == len(cpc_ticks)  # ticks 0.30 apart are not all "¥0"
    bar_labels = {text.get_text() for text in roi_axes.texts}
    assert bar_labels == {value_text(value, "ratio", "¥") for value in specs["channel_targets"].panels[0].series[0].y}
    trends = draw(specs["trends"])
    FigureCanvasAgg(trends).draw()
    orders_ticks = [label.get_text() for label in trends.axes[1].get_yticklabels()]
    assert all(float(tick.replace(",", "")).is_integer() for tick in orders_ticks)
    gmv_ticks = [label.get_text() for label in trends.axes[0].get_yticklabels()]
    assert all(tick.startswith("¥") for tick in gmv_ticks)


def test_each_ltv_cohort_has_its_own_colour(specs, report):
    figure = draw(specs["ltv"])
    lines = figure.axes[0].get_lines()
    cohorts = report.ltv["cohort"].n_unique()
    assert len(lines) == cohorts >= 5
    colours = [line.get_color() for line in lines]
    assert len(set(colours)) == cohorts and set(colours) <= set(PALETTE)
    assert [trace.line.color for trace in plotly_figure(specs["ltv"]).data] == colours


def test_the_heatmap_marks_open_periods(specs):
    heatmap = specs["retention"].panels[0]
    assert isinstance(heatmap, Heatmap)
    labels = [label for row in heatmap.labels for label in row if label]
    assert any(label.endswith("*") for label in labels) and all(label.rstrip("*").endswith("%") for label in labels)


def test_a_png_is_drawn(specs):
    image = png(specs["gmv_change"])
    assert image.startswith(b"\x89PNG") and len(image) > 5_000


# The command line, with the browser out of reach -------------------------------------------------
def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode == 0


def _hidden(paths: list[str], command: list[str], over: str) -> list[str]:
    """`command` in a mount namespace where each of `paths` is covered (`over` a file: bind
    /dev/null; a folder: an empty tmpfs), so that for this command alone they are gone."""
    mount = shutil.which("mount")
    mounts = " && ".join(
        f"{mount} --bind /dev/null {path}" if over == "file" else f"{mount} -t tmpfs none {path}" for path in paths
    )
    return [shutil.which("unshare"), "-m", "/bin/sh", "-c", f'{mounts} && exec "$@"', "hide", *command]


def _no_browser_command(arguments: list[str], tmp_path: Path) -> tuple[list[str], dict]:
    """The CLI with every browser out of reach: PATH without one, BROWSER_PATH pointing
    nowhere, and the installed browser binaries covered (when there are any); plus a line on
    stderr at exit listing any browser-driving module the run imported."""
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    environment = {**os.environ, "PATH": str(empty), "BROWSER_PATH": str(tmp_path / "no-such-chromium")}
    probe = (
        "import atexit, runpy, sys; "
        "atexit.register(lambda: print('browser modules:', sorted({m.split('.')[0] for m in sys.modules} & {'kaleido', 'choreographer', 'playwright'}), file=sys.stderr)); "
        f"sys.argv = ['cli.py', *{arguments!r}]; runpy.run_path('cli.py', run_name='__main__')"
    )
    command = [sys.executable, "-c", probe]
    installed = [path for path in BROWSERS if os.path.exists(path)]
    if installed:
        if not _can_unshare():
            pytest.skip(f"a browser is installed ({', '.join(installed)}) and cannot be hidden: unshare -m needs root")
        command = _hidden(installed, command, "file")
    return command, environment


def _pdf(path: Path) -> tuple[list, str]:
    content = path.read_bytes()
    return PdfReader(io.BytesIO(content)).pages, "".join("".join(text.split()) for text in pdf_pages_text(content))


def test_cli_writes_a_chinese_pdf_with_its_charts_without_a_browser(small_shop_db, tmp_path):
    out = tmp_path / "out"
    command, environment = _no_browser_command(
        ["report", "--source", str(small_shop_db), "--date", str(WEEK_DAY), "--lang", "zh", "--format", "pdf", "--out", str(out)], tmp_path
    )
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, timeout=120, check=False)
    seconds = time.monotonic() - started
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert seconds < 60
    assert "browser modules: []" in stderr
    path = Path(result.stdout.decode().strip().splitlines()[-1])
    assert path == out / "report_week_2026-11-16_zh.pdf"
    pages, text = _pdf(path)
    assert 3 <= len(pages) <= 8
    for words in ("管理周报", "每日趋势", "渠道：ROI与CPC对比目标", "留存与LTV"):
        assert words in text, words
    # WeasyPrint's pages share one resource dictionary: the images, told apart by name.
    images = {image.name: image for page in pages for image in page.images}
    assert len(images) == 5  # trends, ROI and CPC, GMV change, retention, LTV
    assert all(image.image.width >= 1000 for image in images.values())  # for print: 150 dpi across the text column


def _cjk_font_folders() -> list[str]:
    from matplotlib import font_manager

    cjk_font()
    return sorted({os.path.dirname(entry.fname) for entry in font_manager.fontManager.ttflist if entry.name in CJK_FAMILIES})


def test_without_a_cjk_font_the_pdf_is_written_and_one_line_names_the_package(small_shop_db, tmp_path):
    out = tmp_path / "out"
    command, environment = _no_browser_command(
        ["report", "--source", str(small_shop_db), "--date", str(WEEK_DAY), "--lang", "zh", "--format", "pdf", "--out", str(out)], tmp_path
    )
    folders = _cjk_font_folders()
    if folders:
        if not _can_unshare():
            pytest.skip(f"a CJK font is installed ({', '.join(folders)}) and cannot be hidden: unshare -m needs root")
        command = _hidden(folders, command, "folder")
    # Fresh font caches, so that neither matplotlib nor fontconfig remembers the hidden font.
    environment |= {"XDG_CACHE_HOME": str(tmp_path / "cache"), "MPLCONFIGDIR": str(tmp_path / "matplotlib")}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, timeout=180, check=False)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    notices = [line for line in stderr.splitlines() if FONT_PACKAGE in line]
    assert len(notices) == 1 and f"apt-get install {FONT_PACKAGE}" in notices[0]
    pages, text = _pdf(out / "report_week_2026-11-16_zh.pdf")
    assert len(pages) >= 3 and len({image.name for page in pages for image in page.images}) == 5
