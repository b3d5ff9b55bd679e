"""Importers, one module per source. Each turns files into an ImportBatch (see core.features)."""
