"""Pure metric functions: Polars frames and plain parameters in, frames out (SPEC section 3)."""
