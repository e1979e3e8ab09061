"""Messages in the user's language: gettext catalogues, English and Simplified Chinese.

The English text in the code is the message id; ``locale/zh_CN/LC_MESSAGES/heygem.po`` holds
its Chinese translation (edit it with any PO editor; ``pybabel extract`` with the keywords in
:data:`KEYWORDS` lists every message the code can show). The catalogue is compiled in memory
with Babel when first used, so there is no build step and no stale ``.mo`` file.

Messages with values use ``str.format`` placeholders (``"no such file: {path}"``) so that
a translation may move them: raise ``InputError("no such file: {path}", path=p)`` and the
error carries its template and values (see :class:`heygem_kernel.errors.HeyGemError`).

The language: :func:`set_language` (``heygem serve --lang``, the panel's switch), else
``$HEYGEM_LANG``, else the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``zh_CN.UTF-8``
gives Chinese), else English.
"""
from __future__ import annotations

import copy
import functools
import io
import logging
import os
import re
import string
from pathlib import Path
from typing import Any, Mapping

DOMAIN = "heygem"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"en": "English", "zh": "简体中文"}      # code -> its own name (for the switch)
CATALOGUES = {"zh": "zh_CN"}                       # code -> folder under LOCALE_DIR
DEFAULT = "en"
ENV_LANG = "HEYGEM_LANG"
# Functions whose first argument is a message id, for ``pybabel extract -k`` and the tests.
KEYWORDS = ("_", "N_", "Text", "HeyGemError", "InputError", "MediaError", "NoFaceError", "CheckpointError",
            "BackendError", "Cancelled", "BatchItemsFailed")
# Functions whose first argument is a context and second a message id (one English word that needs
# different words in Chinese in different places: "ok" of a file check, of a scan, of a batch item).
CONTEXT_KEYWORDS = ("pgettext", "NC_")

_chosen: str | None = None


def normalize(lang: str | None) -> str | None:
    """``"zh_CN.UTF-8"``, ``"zh-Hans"``, ``"ZH"`` -> ``"zh"``; ``"en_US"`` -> ``"en"``; others None."""
    if not lang:
        return None
    code = re.split(r"[-_.@]", str(lang).strip().lower(), maxsplit=1)[0]
    return code if code in LANGUAGES else None


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for: ``HEYGEM_LANG``, then the POSIX locale variables."""
    environ = os.environ if environ is None else environ
    for var in (ENV_LANG, "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(var)
        if value:                       # the first one set decides, as POSIX locales do
            return normalize(value) or DEFAULT
    return DEFAULT


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`LANGUAGES` for an HTTP ``Accept-Language`` header (q-values honoured)."""
    best, best_q = DEFAULT, -1.0
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        code = normalize(tag)
        if code and q - i * 1e-6 > best_q:  # equal q: the earlier tag wins
            best, best_q = code, q - i * 1e-6
    return best


def page_language(environ: Mapping[str, str] | None = None) -> str:
    """The language of a served page, from the kernel's environment (set by Voila per page):
    ``?lang=`` in the page's URL (the page's switch), then ``heygem serve --lang``
    (``$HEYGEM_LANG``), then the browser's ``Accept-Language``, then the locale."""
    from urllib.parse import parse_qs
    environ = os.environ if environ is None else environ
    asked = parse_qs(environ.get("QUERY_STRING", "")).get("lang", [None])[0]
    if normalize(asked):
        return normalize(asked)
    if normalize(environ.get(ENV_LANG)):
        return normalize(environ[ENV_LANG])
    if environ.get("HTTP_ACCEPT_LANGUAGE"):
        return negotiate(environ["HTTP_ACCEPT_LANGUAGE"])
    return language_from_env(environ)


def set_language(lang: str | None) -> str:
    """Use ``lang`` for messages from now on in this process (None: back to the environment)."""
    global _chosen
    _chosen = normalize(lang) if lang else None
    return get_language()


def get_language() -> str:
    return _chosen or language_from_env()


@functools.lru_cache(maxsize=None)
def translations(lang: str):
    """The compiled catalogue of ``lang`` (a :class:`gettext.GNUTranslations`), or None for English."""
    if lang == DEFAULT or lang not in CATALOGUES:
        return None
    import gettext

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    path = LOCALE_DIR / CATALOGUES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"
    with open(path, "rb") as fh:
        catalog = read_po(fh, locale=CATALOGUES[lang], domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def gettext(msgid: str, /, lang: str | None = None) -> str:
    """``msgid`` in ``lang`` (default: :func:`get_language`); itself when untranslated."""
    table = translations(lang or get_language())
    return msgid if table is None else table.gettext(msgid)


def pgettext(context: str, msgid: str, /, lang: str | None = None) -> str:
    """``msgid`` as used in ``context`` (a PO ``msgctxt``) in ``lang``; itself when untranslated."""
    table = translations(lang or get_language())
    return msgid if table is None else table.pgettext(context, msgid)


def translate(msgid: str, values: Mapping[str, Any] | None = None, lang: str | None = None,
              context: str | None = None) -> str:
    """``msgid`` (in ``context``, if given) in ``lang`` with its ``{placeholders}`` filled from ``values``."""
    text = gettext(msgid, lang) if context is None else pgettext(context, msgid, lang)
    return text.format(**values) if values else text


def _(msgid: str, /, **values: Any) -> str:
    """``msgid`` in the current language, its ``{placeholders}`` filled with ``values``."""
    return translate(msgid, values)


def N_(msgid: str, /) -> str:
    """Mark ``msgid`` for translation where it is defined; translate it where it is shown."""
    return msgid


def NC_(context: str, msgid: str, /) -> "Text":
    """Mark ``msgid`` in ``context`` for translation: a :class:`Text` whose ``str`` is ``msgid`` and
    whose :meth:`~Text.localized` (or :func:`shown`) uses the translation for that context."""
    text = Text(msgid)
    text.context = context
    return text


def shown(text: str) -> str:
    """``text`` in the current language: a :class:`Text` with its context and values, else a message id."""
    return text.localized() if isinstance(text, Text) else _(text)


class Text(str):
    """A translatable fragment used as a value of another message: ``str`` is its English
    text (so the English message is unchanged); :meth:`localized` gives it in a language.

    ``CheckpointError("checkpoint not found: {path} (expected {hint})", path=p,
    hint=Text("the Wav2Lip generator"))`` shows the hint in Chinese too.
    """

    msgid: str
    values: dict
    context: str | None = None      # a PO msgctxt (see :func:`NC_`)

    def __new__(cls, msgid: str, /, **values: Any) -> "Text":
        text = super().__new__(cls, msgid.format(**values) if values else msgid)
        text.msgid, text.values = str(msgid), values
        return text

    def localized(self, lang: str | None = None) -> str:
        return translate(self.msgid, localize_values(self.values, lang), lang, self.context)


SECONDS = N_("{seconds} s")    # a time or duration with its unit (秒 in Chinese), in tables and lists


def seconds(value: float | str, spec: str = ".1f") -> str:
    """``value`` seconds with the unit in the current language: ``8.0 s``, ``8.0 秒``; a ``str``
    (``"1.0-2.0, 3.5"``) is shown as it is. :class:`Text` ``(SECONDS, seconds=...)`` for a message value."""
    return _(SECONDS, seconds=value if isinstance(value, str) else format(value, spec))


def localize_values(values: Mapping[str, Any], lang: str | None = None) -> dict[str, Any]:
    """``values`` with each :class:`Text` in ``lang`` (the others as they are)."""
    return {k: v.localized(lang) if isinstance(v, Text) else v for k, v in values.items()}


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wcwidth): CJK characters take two; combining accents
    and Hangul's conjoining vowels and finals none (file names from macOS come decomposed, NFD:
    ``e`` + U+0301 is one column); a control character one (as :func:`printable` shows it)."""
    from wcwidth import wcswidth
    text = printable(text)
    columns = wcswidth(text)
    return columns if columns >= 0 else len(text)


def printable(text: str) -> str:
    """``text`` with each control character (a tab or newline in a file name) shown as ``?``, as
    ``ls`` does, so that a table cell stays on its line and in its column."""
    import unicodedata
    return "".join("?" if unicodedata.category(c) == "Cc" else c for c in text)


def ljust(text: str, columns: int) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns (``str.ljust`` for CJK text)."""
    return text + " " * max(0, columns - width(text))


def placeholders(message: str) -> set[str]:
    """The ``{names}`` a message uses (for checking that a translation keeps them)."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


class ConsoleFormatter(logging.Formatter):
    """A console log handler's formatter: a :class:`Text` message or value (a silent speech, an option
    ignored, what the H.264 output cannot carry) in the user's language; ``run.log`` keeps them English.

    The record is copied first: every handler (the run.log one included) sees the same record."""

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(record.msg, Text) or (isinstance(args, tuple) and any(isinstance(a, Text) for a in args)):
            record = copy.copy(record)
            if isinstance(record.msg, Text):
                record.msg = record.msg.localized()
            if isinstance(args, tuple):
                record.args = tuple(a.localized() if isinstance(a, Text) else a for a in args)
        return super().format(record)
