"""Exceptions that carry a message a user can act on.

The split matters to the pipeline: a `BadInputError` is the image's fault and becomes a
`failed` item (retrying cannot help), anything else is ours or AWS's and is retried.
"""


class CatdogError(Exception):
    """Base class: the CLI prints these as one line instead of a traceback."""


class BadInputError(CatdogError, ValueError):
    """The input itself is unusable (not an image, truncated, too large...). Never retried."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class QualityGateError(CatdogError):
    """A model is not good enough (or not servable) to go live; the live pointer was left alone.

    Raised by the trainer's quality gate (`training_job.publish`); here so that the command line
    can tell it apart (exit 4) without importing the trainer."""


class ModelError(CatdogError):
    """No model is published, or its files are missing or corrupt. Retried, then DLQ."""


class ManifestError(ModelError):
    """A manifest or pointer file is missing fields or is not valid JSON."""
