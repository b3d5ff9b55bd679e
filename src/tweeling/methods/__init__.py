"""Pure method functions of the impact models (pvlib style: units in names, the standard
and its equations in the docstrings). No I/O: the adapters in tweeling.models read the
twin and write results."""
