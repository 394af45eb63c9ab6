"""The HTTP API: the FastAPI app (`app.py`) and one router per resource (`routes/`), thin over workers/runtime.py."""
