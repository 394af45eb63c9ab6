"""The `docintel` command line."""
