"""Quire's report engine: definitions, expressions, loading, filling and writing.

The engine knows nothing of the web layer; `web/` imports it, never the reverse.
"""

__version__ = "0.1.0"
