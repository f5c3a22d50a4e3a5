"""Domain errors; translated to HTTP or CLI messages only at the edges."""


class RagqaError(Exception):
    """Base class for errors a user can act on; the message says what to do."""


class SourceError(RagqaError):
    """The corpus source is missing, empty or unusable."""


class IndexNotFoundError(RagqaError):
    """No index exists where one was expected."""


class IndexMismatchError(RagqaError):
    """The index was built with a different model or format than the one running."""


class IndexCorruptError(RagqaError):
    """The index directory is incomplete or unreadable."""


class ModelLoadError(RagqaError):
    """The embedding model could not be loaded."""


class DocumentNotFoundError(RagqaError):
    """No document with the requested id is in the index."""
