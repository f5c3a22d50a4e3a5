"""ragqa service: the HTTP edge over an index built by ``indexer``."""
