"""Benchmarks that print comparable figures: ratios against a baseline measured in the same run."""

import json
import logging
from typing import Any

# A line per request the benchmarks make would bury their figures.
logging.getLogger("httpx").setLevel(logging.WARNING)


def print_figures(figures: dict[str, Any], as_json: bool) -> None:
    """One JSON object (for scripts), or one aligned line a figure (for people)."""
    if as_json:
        print(json.dumps(figures))
        return
    width = max(map(len, figures), default=0)
    for key, value in figures.items():
        print(f"{key:>{width}}: {value}")
