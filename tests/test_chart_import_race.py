"""A chart built while another thread imports pandas (the server's warm-up imports
scikit-learn, which imports it): Plotly looks for pandas in sys.modules and found it half
initialised, and the first visitor's page failed with "partially initialized module 'pandas'
has no attribute 'Series'" (seen in the browser tests). Run in a fresh interpreter, where
pandas is not imported yet."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RACE = """
import sys, threading
sys.path.insert(0, {root!r})
started = threading.Event()

def warm_up():
    started.set()
    import sklearn.ensemble  # imports pandas

thread = threading.Thread(target=warm_up)
thread.start()
started.wait()
import polars as pl
from shop_analytics.charts.channels import channel_quality
table = pl.DataFrame({{"channel": ["email", "direct"], "sessions": [10, 20], "conversion_rate": [0.1, 0.2], "gmv": [100.0, 50.0],
                      "bounce_rate": [0.3, 0.4], "session_conversion": [0.1, 0.05]}})
built = failed = 0
while thread.is_alive() or built == 0:
    try:
        channel_quality(table, "¥", "en")
        built += 1
    except AttributeError as error:
        failed += 1
        message = str(error)
print(built, failed, message if failed else "")
"""


def test_charts_built_while_another_thread_imports_pandas_never_see_it_half_initialised():
    completed = subprocess.run(
        [sys.executable, "-c", RACE.format(root=str(ROOT))], capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    built, failed, *message = completed.stdout.split(maxsplit=2)
    assert int(built) > 0 and int(failed) == 0, message
