"""One exception hierarchy for the whole engine.

Every error a user can cause is a :class:`HeyGemError` whose ``str()`` is a single line that
names the file and says what was expected, so the CLI, the panel and the batch manifest can
show it as-is (no traceback).
"""
from __future__ import annotations

import errno
import socket

from .i18n import N_, Text

# What the system can refuse a file operation for that the user can fix (a shorter name, another
# folder, free space), in words a person reads in their language (strerror is English).
OS_REASONS = {errno.ENAMETOOLONG: N_("the name is too long for the file system"),
              errno.EACCES: N_("permission denied"), errno.EPERM: N_("operation not permitted"),
              errno.EROFS: N_("the disk is read-only"), errno.ENOSPC: N_("no space left on the disk"),
              errno.EDQUOT: N_("disk quota exceeded"), errno.EFBIG: N_("the file is too large")}


# The other common reasons, in the user's language too (:func:`os_reason`). Unlike OS_REASONS, an
# uncaught OSError with one of these is a bug (heygem: internal error), not bad input.
OS_WORDS = {**OS_REASONS,    # (the English words are the C library's, so an English line is as it was)
            errno.ENOENT: N_("No such file or directory"), errno.ENOTDIR: N_("Not a directory"),
            errno.EISDIR: N_("Is a directory"), errno.EEXIST: N_("File exists"),
            errno.ENOTEMPTY: N_("Directory not empty"), errno.EBUSY: N_("Device or resource busy"),
            errno.ETXTBSY: N_("Text file busy"), errno.EIO: N_("Input/output error"),
            errno.EMFILE: N_("Too many open files"), errno.ENFILE: N_("Too many open files in system"),
            errno.ELOOP: N_("Too many levels of symbolic links"), errno.EXDEV: N_("Invalid cross-device link"),
            errno.ENOMEM: N_("Cannot allocate memory"), errno.EPIPE: N_("Broken pipe"),
            errno.ECONNREFUSED: N_("Connection refused"), errno.ECONNRESET: N_("Connection reset by peer"),
            errno.ETIMEDOUT: N_("Connection timed out"), errno.EHOSTUNREACH: N_("No route to host"),
            errno.ENETUNREACH: N_("Network is unreachable"), errno.EADDRINUSE: N_("Address already in use"),
            errno.EADDRNOTAVAIL: N_("Cannot assign requested address")}


# A host name that does not resolve (socket.gaierror: getaddrinfo's own EAI_ codes, not errno values)
HOST_WORDS = {code: msgid for code, msgid in (
    (socket.EAI_NONAME, N_("Name or service not known")),
    (socket.EAI_AGAIN, N_("Temporary failure in name resolution")),
    (socket.EAI_FAIL, N_("Non-recoverable failure in name resolution")),
    (getattr(socket, "EAI_NODATA", None), N_("No address associated with hostname"))) if code is not None}


def os_reason(exc: OSError) -> str:
    """Why the system refused, as a value of a message: a :class:`~heygem_kernel.i18n.Text` (shown in
    the user's language) for the errors in :data:`OS_WORDS` (by ``errno``, never by the English words)
    and the host-name errors in :data:`HOST_WORDS`, else the system's own words."""
    msgid = (HOST_WORDS if isinstance(exc, socket.gaierror) else OS_WORDS).get(exc.errno)
    return Text(msgid) if msgid else (exc.strerror or " ".join(str(exc).split()))


def os_error(exc: OSError) -> str:
    """An OSError as a value of a message, where its ``str`` was (``[Errno 2] No such file or directory:
    'a.mp4'``): :func:`os_reason` and the path it names, ``a.mp4: no such file or folder`` (in the user's
    language, the path as it is)."""
    if not exc.strerror:
        return os_reason(exc)
    if exc.filename is None:
        return os_reason(exc)
    return Text(N_("{path}: {reason}"), path=exc.filename, reason=os_reason(exc))


class HeyGemError(Exception):
    """Base class: ``str(err)`` is a one-line message meant for a person, in English.

    Give the message as a template with its values, ``InputError("no such file: {path}",
    path=p)``, and :meth:`localized` shows it in the user's language (the template is the
    message id of :mod:`heygem_kernel.i18n`'s catalogues); a plain string works too and is
    shown as it is.
    """

    def __init__(self, message: str, /, **values: object) -> None:
        self.template = str(message)
        self.values = values = {key: _visible(key, value) for key, value in values.items()}
        super().__init__(_one_line(self.template.format(**values) if values else self.template))

    def localized(self, lang: str | None = None) -> str:
        """The message in ``lang`` (default: the current language), on one line.

        The values are formatted as in ``str()`` (``{size:,}``, ``{name!r}`` keep their meaning);
        a translation that cannot be filled falls back to the English line."""
        from .i18n import localize_values, translate
        try:
            return _one_line(translate(self.template, localize_values(self.values, lang), lang))
        except (KeyError, IndexError, ValueError, TypeError):
            return Exception.__str__(self)      # the English line

    def to_record(self) -> dict:
        """The message as JSON (template and values) for a manifest; :func:`localize_record`
        shows it later in any language."""
        return {"template": self.template, "values": {k: _jsonable(v) for k, v in self.values.items()}}

    def __reduce__(self):
        # keep the template and values across processes (Dask workers, multiprocessing)
        return (_rebuild, (type(self), self.template, self.values), self.__dict__)


def _rebuild(cls: type, template: str, values: dict) -> "HeyGemError":
    err = cls.__new__(cls)
    HeyGemError.__init__(err, template, **values)
    return err


def _jsonable(value: object) -> object:
    """A message value as JSON: numbers stay numbers (for ``{size:,}``), a translatable
    :class:`~heygem_kernel.i18n.Text` becomes a nested record, anything else its ``str``."""
    import numbers

    from .i18n import Text
    if isinstance(value, Text):
        return {"template": value.msgid, "values": {k: _jsonable(v) for k, v in value.values.items()}}
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


def record_of(message: object) -> dict | None:
    """The JSON record of an error or a :class:`~heygem_kernel.i18n.Text` (None for a plain string)."""
    from .i18n import Text
    if isinstance(message, HeyGemError):
        return message.to_record()
    if isinstance(message, Text):
        return _jsonable(message)
    return None


def from_record(record: dict, cls: type[HeyGemError] = HeyGemError) -> HeyGemError:
    """The error a :meth:`HeyGemError.to_record` record describes (one made in another process),
    as ``cls`` with its template and values again, so :meth:`~HeyGemError.localized` works."""
    from .i18n import Text

    def value(v: object) -> object:
        if isinstance(v, dict) and "template" in v:   # a translatable fragment (Text)
            return Text(v["template"], **{k: value(x) for k, x in (v.get("values") or {}).items()})
        return v
    return cls(record["template"], **{k: value(v) for k, v in (record.get("values") or {}).items()})


def localize_record(record: dict | None, fallback: str | None, lang: str | None = None) -> str | None:
    """A message recorded by :meth:`HeyGemError.to_record` in ``lang``; ``fallback`` (the English
    line that was stored with it) when there is no record or it does not fit the catalogue."""
    if not record:
        return fallback
    try:
        return _one_line(_fill(record, lang))
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return fallback


def _fill(record: dict, lang: str | None) -> str:
    from .i18n import translate
    values = {k: _fill(v, lang) if isinstance(v, dict) else v for k, v in (record.get("values") or {}).items()}
    return translate(record["template"], values, lang)


def localized_error(entry: dict, lang: str | None = None) -> str | None:
    """A batch manifest entry's ``error`` in ``lang`` (from its ``error_i18n`` record)."""
    return localize_record(entry.get("error_i18n"), entry.get("error"), lang)


def _visible(key: str, value: object) -> object:
    """A path whose spaces at either end (or line break) the one-line message would drop, quoted:
    '--video "photo.png "' said 'no such video file: photo.png' of a photo.png that is there."""
    import os
    if isinstance(value, os.PathLike) or key == "path" and type(value) is str:
        text = os.fspath(value)
        if isinstance(text, str) and text and (text != text.strip() or "\n" in text):
            import shlex
            return shlex.quote(text)
    return value


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


class BatchItemsFailed(HeyGemError):
    """Items of a batch failed (or were not finished); the others are done and recorded. Raised
    last by the batch notebook under plain papermill so that its exit status says so.

    Only a person reads it (the notebook's error output, papermill's stderr), never a log or a
    manifest: its ``str`` is in the user's language, like the rest of the report
    (``$HEYGEM_LANG`` / ``LANG`` of the kernel); ``args[0]`` keeps the English line."""

    def __str__(self) -> str:
        return self.localized()
