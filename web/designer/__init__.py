"""The report designer's core: edits by document path, forms from the JSON Schema, the band tree.

Plain Python with no HTTP types, so the web layer wires each piece to a route in a few lines.
"""
