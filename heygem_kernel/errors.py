"""One exception hierarchy for the whole engine.

Every error a user can cause is a :class:`HeyGemError` whose ``str()`` is a single line that
names the file and says what was expected, so the CLI, the panel and the batch manifest can
show it as-is (no traceback).
"""
from __future__ import annotations


class HeyGemError(Exception):
    """Base class: ``str(err)`` is a one-line message meant for a person, in English.

    Give the message as a template with its values, ``InputError("no such file: {path}",
    path=p)``, and :meth:`localized` shows it in the user's language (the template is the
    message id of :mod:`heygem_kernel.i18n`'s catalogues); a plain string works too and is
    shown as it is.
    """

    def __init__(self, message: str, /, **values: object) -> None:
        self.template = str(message)
        self.values = values
        super().__init__(_one_line(self.template.format(**values) if values else self.template))

    def localized(self, lang: str | None = None) -> str:
        """The message in ``lang`` (default: the current language), on one line.

        The values are formatted as in ``str()`` (``{size:,}``, ``{name!r}`` keep their meaning);
        a translation that cannot be filled falls back to the English line."""
        from .i18n import localize_values, translate
        try:
            return _one_line(translate(self.template, localize_values(self.values, lang), lang))
        except (KeyError, IndexError, ValueError, TypeError):
            return str(self)

    def __reduce__(self):
        # keep the template and values across processes (Dask workers, multiprocessing)
        return (_rebuild, (type(self), self.template, self.values), self.__dict__)


def _rebuild(cls: type, template: str, values: dict) -> "HeyGemError":
    err = cls.__new__(cls)
    HeyGemError.__init__(err, template, **values)
    return err


def _one_line(text: str) -> str:
    return " ".join(str(text).split())  # force a single line


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
