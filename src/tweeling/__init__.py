"""Tweeling: an open-source digital twin of the physical living environment of the Netherlands."""

__version__ = "0.1.0"
