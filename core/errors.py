"""Domain errors with messages a person can act on."""


class DocIntelError(Exception):
    """Base class for expected, user-facing failures."""


class LoaderError(DocIntelError):
    """A file could not be turned into text (unsupported, empty, corrupt, encrypted, scanned)."""


class NotFoundError(DocIntelError):
    """A tenant, collection or document does not exist."""


class EmbedderMismatchError(DocIntelError):
    """A collection's vectors were made by another embedding model or runtime."""
