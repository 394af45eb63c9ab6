"""DocIntel workers package (filled in by later issues)."""
