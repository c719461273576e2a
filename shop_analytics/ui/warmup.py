"""What a page's first visitor would otherwise wait for, done once per server in the
background once the first page is drawn: SciPy's statistics (Campaigns & ROI's tests, 0.5 s to
import), scikit-learn (the models of Segments & LTV, 0.5 s) and jieba's dictionary (the review
words of Service & reviews, about 1 s to load). Either holds Python's
import or initialisation lock, so without this every session opening such a page in the
server's first minutes queues behind the first one."""

import threading

import streamlit as st


def _warm() -> None:
    import sklearn.cluster  # noqa: F401 - 0.5 s of the first Predicted LTV tab (bench_cold.py)
    import sklearn.ensemble  # noqa: F401
    import sklearn.metrics  # noqa: F401

    import metrics.compare  # noqa: F401 - the import is the work: it loads scipy.stats
    from metrics.review_words import words_of

    words_of("好评 warm")


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Start the warm-up, once per server process (shared by every session)."""
    thread = threading.Thread(target=_warm, name="warm-up", daemon=True)
    thread.start()
    return thread
