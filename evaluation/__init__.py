"""Quality evaluation: the `Suite` seam and one suite per data-set format (`suites/`), metrics, the runner (`runner.py`), stored runs (`runs.py`), comparisons (`compare.py`) and HTML reports."""
