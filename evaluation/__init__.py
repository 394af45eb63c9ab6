"""DocIntel evaluation package (filled in by later issues)."""
