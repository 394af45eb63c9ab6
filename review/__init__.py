"""DocIntel review package (filled in by later issues)."""
