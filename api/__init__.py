"""DocIntel api package (filled in by later issues)."""
