"""``heygem serve``: the workbench notebook as a standalone web app (Voila).

Security model: the app binds to loopback unless another address is asked for, and then it
requires a token (one is generated when none is given). Voila serves files only from the
workspace's ``uploads/`` and ``runs/`` folders (mp4, png, the history ZIPs, and each batch
job's report.html and outputs.zip), nothing else.
The kernels Voila starts learn the workspace through environment variables
(:mod:`heygem_kernel.workspace`).
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from . import i18n
from . import workspace as ws
from .errors import InputError, os_reason
from .i18n import N_
from .jobs import ENV_SCHEDULER, ensure_runner

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8866                                  # Voila's own default
WILDCARD_HOSTS = ("0.0.0.0", "::", "")               # every interface: not an address to open
PROJECT_ROOT = Path(__file__).resolve().parents[1]   # the checkout holding notebooks/workbench.ipynb
NOTEBOOK = ws.NOTEBOOK                               # what the kernels' workspace.find_root looks for
MB = ws.MB
# An upload travels as ONE websocket message (ipywidgets FileUpload); Tornado drops the socket
# past its 10 MiB default. Allow twice the panel's limit plus slack, so that files somewhat
# over the limit still arrive and get a refusal message in the panel rather than a dead socket.
WEBSOCKET_SLACK = 64 * MB
FILE_ALLOWLIST = (
    r"(?:uploads|runs)/(?!.*\.\.)[^\\]+\.(?:mp4|png)",   # inputs, outputs, thumbnails and plots
    r"runs/_downloads/[^/\\]+\.zip",                     # "download all as ZIP"
    r"runs/[^/\\.][^/\\]*/(?:report\.html|outputs\.zip)",  # a batch job's report and ZIP
)
# The page's template: Voila's "lab" with the loading text in the page's language (see page_texts);
# JUPYTER_DATA/voila/templates/heygem, found through $JUPYTER_PATH.
TEMPLATE = "heygem"
JUPYTER_DATA = Path(__file__).resolve().parent / "jupyter"
PAGE_TITLE = N_("HeyGem Workbench")   # the notebook's metadata title, the page's name


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    """Everything one ``heygem serve`` needs, checked."""

    root: Path                 # workspace: uploads/, runs/, notebooks/workbench.ipynb
    host: str
    port: int
    token: str | None          # None: no token (loopback only)
    max_upload_mb: float
    media_dirs: tuple[Path, ...] = ()   # offered in the panel's "file on this machine" pickers
    lang: str | None = None    # "en" | "zh"; None: each browser's Accept-Language
    scheduler: str | None = None   # Dask scheduler every batch job fans out over (heygem_kernel.jobs)

    @property
    def notebook(self) -> Path:
        return self.root / NOTEBOOK

    @property
    def websocket_max_bytes(self) -> int:
        return int(2 * self.max_upload_mb * MB) + WEBSOCKET_SLACK

    @property
    def url(self) -> str:
        """The address to open. Listening on every interface (0.0.0.0, ::), that is no address a
        browser can open (nor one to send a colleague): this machine's name is given instead."""
        host = socket.gethostname() if self.host in WILDCARD_HOSTS else self.host
        return self._url(host)

    @property
    def local_url(self) -> str:
        """The address on this machine itself."""
        return self._url("127.0.0.1" if self.host in WILDCARD_HOSTS else self.host)

    def _url(self, host: str) -> str:
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" + (f"?token={quote(self.token)}" if self.token else "")

    def env(self) -> dict[str, str]:
        """Environment for the Voila process; its kernels inherit it."""
        return {ws.ENV_ROOT: str(self.root), ws.ENV_MAX_UPLOAD_MB: f"{self.max_upload_mb:g}",
                ws.ENV_FILES_URL: "/voila/files/", ws.ENV_MEDIA_DIRS: os.pathsep.join(map(str, self.media_dirs)),
                # off loopback, typed paths may only name files in uploads/ and the media folders
                ws.ENV_RESTRICT_PICKS: "0" if is_loopback(self.host) else "1",
                **({i18n.ENV_LANG: self.lang} if self.lang else {}),
                **({ENV_SCHEDULER: self.scheduler} if self.scheduler else {})}

    def voila_config(self) -> "traitlets.config.Config":
        """Voila settings (a traitlets Config: dict and list values need no CLI quoting)."""
        from traitlets.config import Config

        c = Config()
        c.Voila.ip = self.host
        c.Voila.port = self.port
        c.Voila.port_retries = 0                 # fail rather than silently move to another port
        c.Voila.open_browser = False
        c.Voila.root_dir = str(self.root)
        c.Voila.tornado_settings = {"websocket_max_message_size": self.websocket_max_bytes}
        if self.token:
            c.Voila.token = self.token
        c.VoilaConfiguration.file_allowlist = list(FILE_ALLOWLIST)
        c.VoilaConfiguration.show_tracebacks = False
        # the browser's language reaches the page's kernel as $HTTP_ACCEPT_LANGUAGE (RFC 3875)
        c.VoilaConfiguration.http_header_envs = ["Accept-Language"]
        c.VoilaConfiguration.template = TEMPLATE
        c.VoilaConfiguration.prelaunch_hook = page_language_hook
        return c


def page_texts(lang: str, title: str) -> dict[str, str]:
    """What the page says while it starts, in ``lang``: Voila's own English words ("Running ...", then
    "Executing 3 of 12" as the notebook runs), translated; the template fills in the numbers."""
    return {"lang": lang,
            "running": i18n.translate(N_("Running {title}..."), {"title": i18n.gettext(title, lang)}, lang),
            "executing": i18n.gettext(N_("Executing {index} of {count}"), lang),
            "reading": i18n.gettext(N_("Reading {index} of {count}"), lang)}


def page_language_hook(handler, notebook, cwd):
    """Voila's prelaunch hook: gives the page's template (:data:`TEMPLATE`) its loading texts in the language
    the page's kernel will choose (:func:`heygem_kernel.i18n.page_language` of the same request: ``?lang=``,
    ``--lang``, ``Accept-Language``, the locale), in a copy of the notebook's metadata."""
    import copy
    request = handler.request
    environ = {**os.environ, "QUERY_STRING": str(request.query or ""),
               "HTTP_ACCEPT_LANGUAGE": request.headers.get("Accept-Language", "")}
    notebook = copy.deepcopy(notebook)
    title = notebook.metadata.get("title") or PAGE_TITLE
    notebook.metadata["heygem_page"] = page_texts(i18n.page_language(environ), title)
    return notebook


def make_config(*, root: str | os.PathLike | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                token: str | None = None, max_upload_mb: float | None = None,
                media_dirs: list[str | os.PathLike] | tuple = (), lang: str | None = None,
                scheduler: str | None = None) -> ServeConfig:
    """Check the serve options; a non-loopback ``host`` gets a generated token if none is given."""
    root = Path(root or PROJECT_ROOT).resolve()
    if root.exists() and not root.is_dir():
        raise InputError("{path} is a file, expected a folder", path=root)
    if not root.is_dir():
        raise InputError("{root}: the workspace folder does not exist", root=root)
    host = DEFAULT_HOST if host == "localhost" else host   # IPv4 loopback only, not also ::1
    if not (0 < port < 65536):
        raise InputError("--port {port}: expected 1..65535", port=port)
    mb = ws.DEFAULT_MAX_UPLOAD_MB if max_upload_mb is None else max_upload_mb
    if mb <= 0:
        raise InputError("--max-upload-mb {mb}: expected a positive size in MB", mb=mb)
    if token is not None and not token.strip():
        raise InputError("--token: expected a non-empty token")
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    dirs = tuple(Path(d).resolve() for d in media_dirs)
    for d in dirs:
        if not d.is_dir():
            raise InputError("--media-dir {folder}: not a folder", folder=d)
    if lang is not None and i18n.normalize(lang) is None:
        raise InputError("--lang {lang}: expected one of {choices}", lang=lang, choices=", ".join(i18n.LANGUAGES))
    return ServeConfig(root=root, host=host, port=port, token=token, max_upload_mb=mb, media_dirs=dirs,
                       lang=i18n.normalize(lang) if lang else None, scheduler=scheduler or None)


def prepare_workspace(config: ServeConfig) -> None:
    """Create uploads/ and runs/; copy the workbench notebook into a workspace that lacks it."""
    for sub in (ws.UPLOADS_DIR, ws.RUNS_DIR):
        (config.root / sub).mkdir(parents=True, exist_ok=True)
    if not config.notebook.is_file():
        source = PROJECT_ROOT / NOTEBOOK
        if not source.is_file():
            raise InputError("{notebook}: no workbench notebook here, and none at {source}",
                             notebook=config.notebook, source=source)
        config.notebook.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, config.notebook)


def voila_app_class() -> type:
    """Voila whose ``/voila/files/`` handler also demands the token.

    Voila 0.5's AllowListFileHandler is a bare Tornado StaticFileHandler: with a token set,
    the page and kernels are protected but outputs under runs/ would be served to anyone.
    """
    from jupyter_server.base.handlers import JupyterHandler
    from tornado import web
    from voila.app import Voila
    from voila.static_file_handler import AllowListFileHandler

    class TokenFileHandler(JupyterHandler, AllowListFileHandler):
        """AllowListFileHandler behind the server's login (token URL argument or login cookie)."""

        @web.authenticated
        def head(self, path: str):
            return AllowListFileHandler.head(self, path)

        @web.authenticated
        def get(self, path: str, include_body: bool = True):
            return AllowListFileHandler.get(self, path, include_body)

        def compute_etag(self) -> None:
            # Tornado hashes the whole file for an ETag (and logs an error past 64 MB): a
            # multi-GB output would be read on every range request of the <video>
            return None

        def write_error(self, status_code: int, **kwargs) -> None:
            # Jupyter's error pages are templates that Voila does not ship: plain Tornado page
            web.RequestHandler.write_error(self, status_code, **kwargs)

    class HeyGemVoila(Voila):
        def init_handlers(self) -> list:
            return [(h[0], TokenFileHandler, *h[2:]) if h[1] is AllowListFileHandler else h
                    for h in super().init_handlers()]

    return HeyGemVoila


def check_listen(host: str, port: int) -> None:
    """Raise InputError (one line) unless this machine can listen on ``host``:``port`` now.

    Voila reports a busy port as a CRITICAL log after printing its own lines, and a host name that
    does not resolve or an address that is not this machine's as an OSError from deep inside
    Tornado; a test bind first says which it is, before anything is printed or started."""
    import errno
    import socket
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError("--host {host}: no such host or address ({reason})", host=host,
                         reason=os_reason(exc) if isinstance(exc, OSError) else exc) from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as Tornado does: TIME_WAIT is no conflict
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError("port {port} on {host} is in use (another heygem serve?): choose another "
                                 "with --port", port=port, host=host) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InputError("--host {host}: not an address of this machine", host=host) from None
            raise InputError("cannot listen on {host}:{port} ({reason})", host=host, port=port,
                             reason=os_reason(exc)) from None


def serve(config: ServeConfig) -> int:
    """Run Voila in this process until interrupted."""
    try:
        Voila = voila_app_class()
    except ImportError as exc:
        raise InputError("heygem serve needs Voila: pip install 'heygem-workbench[widgets]'") from exc
    check_listen(config.host, config.port)
    prepare_workspace(config)
    os.environ.update(config.env())
    from .report import jupyter_path_with_base
    templates = jupyter_path_with_base()   # Voila's and nbconvert's templates, also from a venv
    # ... after the page's own template (TEMPLATE)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(JUPYTER_DATA), templates or os.environ.get("JUPYTER_PATH")) if p)
    from .i18n import _   # the console's language ($HEYGEM_LANG, LANG), as every other heygem line
    if ensure_runner(config.root / ws.RUNS_DIR):   # batch jobs a restart interrupted go on now
        print(_("  resuming the unfinished batch jobs"), flush=True)
    print(_("HeyGem Workbench: open {url}", url=config.url), flush=True)
    if config.local_url != config.url:
        print(_("  on this machine: {url}", url=config.local_url), flush=True)
    if not is_loopback(config.host):
        print(_("  listening on {host}: anyone who can reach it needs the token", host=config.host), flush=True)
    Voila.launch_instance(argv=[str(config.notebook)], config=config.voila_config())
    return 0
