"""One exception hierarchy for the whole engine.

Every error a user can cause is a :class:`HeyGemError` whose ``str()`` is a single line that
names the file and says what was expected, so the CLI, the panel and the batch manifest can
show it as-is (no traceback).
"""
from __future__ import annotations


class HeyGemError(Exception):
    """Base class: ``str(err)`` is a one-line message meant for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # force a single line


class InputError(HeyGemError):
    """A path or option the user gave is missing, of the wrong kind, or out of range."""


class MediaError(InputError):
    """A file is not decodable media, is truncated, lacks the needed stream, or is empty."""


class NoFaceError(InputError):
    """No face was found anywhere in the video (or photo)."""


class CheckpointError(HeyGemError):
    """A model checkpoint is missing, truncated, of the wrong layout or fails its checksum."""


class BackendError(HeyGemError):
    """A lip-sync backend could not be created or failed while running."""


class Cancelled(HeyGemError):
    """The run was cancelled by the caller (panel Cancel button, batch stop)."""
