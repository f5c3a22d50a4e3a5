"""ragqa indexer: load → clean → chunk → embed → store."""

__version__ = "0.1.0"
