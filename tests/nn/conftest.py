"""tests/nn needs torch (the optional ``learned`` extra); without it the folder is skipped."""

import importlib.util

if importlib.util.find_spec("torch") is None:
    collect_ignore_glob = ["test_*.py"]
