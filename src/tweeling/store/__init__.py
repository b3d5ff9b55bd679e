"""Storage of the twin: the store interface and its backends."""
