"""Chart functions: a frame in, a Plotly figure out; pages and reports call the same ones."""

# Plotly asks whether pandas is loaded by looking in sys.modules, and uses it if so. While
# another thread imports pandas (the server's warm-up imports scikit-learn, which imports it),
# sys.modules holds a half-initialised pandas, and building a figure in a page's run failed
# with "partially initialized module 'pandas' has no attribute 'Series'". An import statement
# waits for another thread's import of the same module to finish, so every chart is built
# with pandas either absent or whole.
import pandas  # noqa: F401
