"""The Streamlit edge: cached loading, the global filters, shared page pieces."""
