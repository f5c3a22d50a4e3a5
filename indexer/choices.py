"""The values the build options accept, listed once for the indexer, the settings and the CLI.

Free of heavy imports, so that `ragqa --help` does not load NumPy.
"""

INDEX_TYPES = ("auto", "flat", "ivf")
PRECISIONS = ("auto", "float32", "bfloat16")
ENGINES = ("local", "ray")
