"""The HTTP layer: OGC API endpoints over the twin (thin: parse, call the store, format)."""
