"""Models over the canonical tables: user segments, LTV prediction (SPEC section 3)."""
