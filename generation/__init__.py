"""DocIntel generation package (filled in by later issues)."""
