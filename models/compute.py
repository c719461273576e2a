"""How the models use the machine's cores.

scikit-learn's gradient boosting and k-means run their loops on OpenMP threads, one per core.
On the few thousand customers of a shop that costs more than it saves, and when other work
holds the cores (the dashboard serving other users, a test run beside it) the threads wait
on each other: the value comparison on the default sample shop took 37 s with two threads
on a busy 2-core machine and 3.4 s with one. So the model fits run on one OpenMP thread;
Polars keeps its own thread pool for the feature frames.
"""

from contextlib import AbstractContextManager


def one_thread() -> AbstractContextManager:
    """A context in which OpenMP (and BLAS) loops run on a single thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
