"""Chart functions: a frame in, a Plotly figure out; pages and reports call the same ones."""
