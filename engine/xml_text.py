"""Text as XML can hold it: what a chart engine, an SVG or an XML file may be given.

XML 1.0 allows tab, newline and carriage return below U+0020, and neither U+FFFE, U+FFFF
nor a surrogate on its own. Data holds such characters (a stray byte in an imported name),
and vl-convert panicked on them, killing its process. Each becomes U+FFFD, the
replacement character, so two values that differ only there stay apart.
"""

from __future__ import annotations

import re

__all__ = ("xml_text",)

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)
